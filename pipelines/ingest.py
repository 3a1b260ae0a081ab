"""Stage ingest: read the configured source, write an immutable snapshot and its summary.

The data contract gates the snapshot: a source that breaks it stops here, and the last
good snapshot (and everything built from it) stays as it was.
"""

from tsforge import stage
from tsforge.catalog import IngestSummary, save_frame
from tsforge.config import load_params
from tsforge.errors import ValidationError
from tsforge.panel import Layout
from tsforge.sources import content_hash, infer_freq, load_source
from tsforge.validation import contract, failure_message

PROJECT = stage.project(__file__)


def main() -> None:
    params = load_params(PROJECT.params)
    data = params.data
    loaded = load_source(data, PROJECT.root)
    frame = loaded.frame
    times = frame[data.time_column]
    layout = Layout.of_frame(frame, data.series_id)
    # Every series shares one frequency; the longest one tells it most reliably.
    longest = int(layout.lengths.argmax()) if len(layout.names) else 0
    freq = data.freq or infer_freq(times.iloc[layout.bounds[longest] : layout.bounds[longest + 1]])
    checks, _ = contract(frame, params, freq)
    if not all(check.success for check in checks):
        raise ValidationError(failure_message(checks, loaded.origin) + "\nThe previous snapshot was kept.")
    save_frame(PROJECT.raw_series, frame)
    IngestSummary(
        source=loaded.origin,
        rows=len(frame),
        series=len(layout.names),
        start=times.min().isoformat() if len(frame) else None,
        end=times.max().isoformat() if len(frame) else None,
        columns=list(frame.columns),
        freq=freq,
        sha256=content_hash(frame),
        notes=list(loaded.notes),
    ).save(PROJECT.raw_meta)


if __name__ == "__main__":
    stage.run(main)
