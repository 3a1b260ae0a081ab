"""Stage ingest: read the configured source, write an immutable snapshot and its summary.

The data contract gates the snapshot: a source that breaks it stops here, and the last
good snapshot (and everything built from it) stays as it was (tsforge.stages.ingest).
"""

from tsforge import stage
from tsforge.catalog import save_frame
from tsforge.config import load_params
from tsforge.stages import ingest

PROJECT = stage.project(__file__)


def main() -> None:
    snapshot = ingest.ingest(load_params(PROJECT.params), PROJECT.root)
    save_frame(PROJECT.raw_series, snapshot.frame)
    snapshot.summary.save(PROJECT.raw_meta)


if __name__ == "__main__":
    stage.run(main)
