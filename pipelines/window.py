"""Stage window: forecast origins per split (targets inside the split, no look-ahead), pooled
over every series (tsforge.stages.window)."""

from tsforge import stage
from tsforge.catalog import ProcessedSeries, write_json
from tsforge.config import load_params
from tsforge.console import paths, say
from tsforge.stages import window

PROJECT = stage.project(__file__)


def main() -> None:
    windowed = window.window(ProcessedSeries.load(PROJECT.series), load_params(PROJECT.params).window)
    windowed.windows.save(PROJECT.windows)
    write_json(PROJECT.windows_report, windowed.report)
    said = windowed.report
    say(
        f"windows train/val/test {said['train']}/{said['val']}/{said['test']} (input {said['input_size']}, "
        f"horizon {said['horizon']}) -> {paths(PROJECT.root, PROJECT.windows)}"
    )


if __name__ == "__main__":
    stage.run(main)
