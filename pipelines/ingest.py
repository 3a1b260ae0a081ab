"""Stage ingest: read the configured source, write an immutable snapshot and its summary.

The data contract gates the snapshot: a source that breaks it stops here, and the last
good snapshot (and everything built from it) stays as it was (tsforge.stages.ingest).
"""

from tsforge import stage
from tsforge.catalog import save_frame
from tsforge.config import load_params
from tsforge.console import paths, say
from tsforge.stages import ingest

PROJECT = stage.project(__file__)


def main() -> None:
    snapshot = ingest.ingest(load_params(PROJECT.params), PROJECT.root)
    save_frame(PROJECT.raw_series, snapshot.frame)
    snapshot.summary.save(PROJECT.raw_meta)
    got = snapshot.summary
    series = f", {got.series} series" if got.series > 1 else ""
    say(
        f"read {got.source}: {got.rows} rows{series}, {(got.start or '?')[:10]} to {(got.end or '?')[:10]}, "
        f"frequency {got.freq}",
        f"kept the data contract -> {paths(PROJECT.root, PROJECT.raw_series, PROJECT.raw_meta)}",
    )


if __name__ == "__main__":
    stage.run(main)
