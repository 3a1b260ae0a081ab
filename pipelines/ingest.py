"""Stage ingest: read the configured source, write an immutable snapshot and its summary.

The data contract gates the snapshot: a source that breaks it stops here, and the last
good snapshot (and everything built from it) stays as it was.
"""

import os

from tsforge import stage
from tsforge.config import load_params
from tsforge.errors import ValidationError
from tsforge.panel import Layout
from tsforge.sources import content_hash, infer_freq, load_source
from tsforge.validation import contract, failure_message


def main() -> None:
    params = load_params(stage.PARAMS)
    data = params.data
    loaded = load_source(data)
    frame = loaded.frame
    times = frame[data.time_column]
    layout = Layout.of_frame(frame, data.series_id)
    # Every series shares one frequency; the longest one tells it most reliably.
    longest = int(layout.lengths.argmax()) if len(layout.names) else 0
    freq = data.freq or infer_freq(times.iloc[layout.bounds[longest] : layout.bounds[longest + 1]])
    checks, _ = contract(frame, params, freq)
    if not all(check.success for check in checks):
        raise ValidationError(failure_message(checks, loaded.origin) + "\nThe previous snapshot was kept.")
    stage.RAW_SERIES.parent.mkdir(parents=True, exist_ok=True)
    tmp = stage.RAW_SERIES.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, stage.RAW_SERIES)
    stage.write_json(
        stage.RAW_META,
        {
            "source": loaded.origin,
            "rows": len(frame),
            "series": len(layout.names),
            "start": times.min().isoformat() if len(frame) else None,
            "end": times.max().isoformat() if len(frame) else None,
            "columns": list(frame.columns),
            "freq": freq,
            "sha256": content_hash(frame),
            "notes": list(loaded.notes),
        },
    )


if __name__ == "__main__":
    stage.run(main)
