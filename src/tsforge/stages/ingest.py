"""The ingest stage: read the configured source into one canonical frame, and let it become
the snapshot only if it keeps the data contract.

:func:`ingest` writes nothing: the stage saves the snapshot and its summary only once it has
returned, so a source that breaks the contract leaves the last good snapshot (and everything
built from it) as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tsforge.catalog import IngestSummary
from tsforge.config import DataConfig, Params
from tsforge.covariates import check_static
from tsforge.data_contract import contract, failure_message
from tsforge.errors import ValidationError
from tsforge.panel import Layout
from tsforge.sources import content_hash, infer_freq, load_source


@dataclass(frozen=True)
class Snapshot:
    """A source that passed the contract: the frame to save and data/raw/ingest.json."""

    frame: pd.DataFrame
    summary: IngestSummary


def frequency(frame: pd.DataFrame, layout: Layout, data: DataConfig) -> str | None:
    """``data.freq``, else the frequency pandas infers from the longest series: every series
    shares one frequency, and the longest one tells it most reliably."""
    if data.freq:
        return data.freq
    longest = int(layout.lengths.argmax()) if len(layout.names) else 0
    return infer_freq(frame[data.time_column].iloc[layout.bounds[longest] : layout.bounds[longest + 1]])


def ingest(params: Params, root: Path) -> Snapshot:
    """Read the configured source and check it against the data contract.

    Args:
        params: All of params.yaml: the data section says what to read, the contract's bounds
            come from the validate, scale and window sections.
        root: The project root (relative paths in ``data.path`` are resolved against it).

    Returns:
        The frame and its summary (source, counts, time range, frequency, content hash).

    Raises:
        ValidationError: The source breaks the contract (the message says how, and that the
            previous snapshot was kept).
    """
    data = params.data
    loaded = load_source(data, root)
    frame = loaded.frame
    times = frame[data.time_column]
    layout = Layout.of_frame(frame, data.series_id)
    freq = frequency(frame, layout, data)
    checks, _ = contract(frame, params, freq)
    if not all(check.success for check in checks):
        raise ValidationError(failure_message(checks, loaded.origin) + "\nThe previous snapshot was kept.")
    try:
        check_static(frame, data.series_id, data.static_features)
    except ValidationError as exc:
        raise ValidationError(f"{loaded.origin}: {exc}\nThe previous snapshot was kept.") from exc
    summary = IngestSummary(
        source=loaded.origin,
        rows=len(frame),
        series=len(layout.names),
        start=times.min().isoformat() if len(frame) else None,
        end=times.max().isoformat() if len(frame) else None,
        columns=list(frame.columns),
        freq=freq,
        sha256=content_hash(frame),
        notes=list(loaded.notes),
    )
    return Snapshot(frame, summary)
