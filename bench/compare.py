"""Compare accuracy-suite results side by side: the model's MASE and sMAPE per dataset.

Each argument is ``LABEL=PATH`` to an accuracy.json (bench/accuracy.json or an experiment's
``--out`` folder). Prints a markdown table: per dataset, the model's MASE / sMAPE in each
run, the mean over the runs that share a ``LABEL`` prefix before ``@`` (``pad@7``,
``pad@123``: the seeds of one setting), and the best baseline of the first run::

    python -m bench.compare off@42=bench/accuracy.json off@7=bench/work/e9-s7-off/accuracy.json \\
        pad@42=bench/work/e8/accuracy.json pad@7=bench/work/e9-s7-pad/accuracy.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def load_runs(specs: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """``LABEL=PATH`` arguments -> {label: that file's datasets}."""
    runs: dict[str, Mapping[str, Any]] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or not label:
            raise SystemExit(f"{spec!r}: expected LABEL=PATH to an accuracy.json")
        if label in runs:
            raise SystemExit(f"{label!r} is given twice: each run needs its own label (e.g. pad@7, pad@123)")
        file = Path(path)
        if file.is_dir():
            file = file / "accuracy.json"
        if not file.exists():
            raise SystemExit(f"{spec!r}: no accuracy.json at {file}")
        runs[label] = json.loads(file.read_text()).get("datasets", {})
    return runs


def model_score(entry: Mapping[str, Any] | None, metric: str) -> float | None:
    """The model's test score in one dataset's entry (None when missing or failed)."""
    value = ((entry or {}).get("scores") or {}).get("model", {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def setting_means(
    runs: Mapping[str, Mapping[str, Any]], dataset: str, metric: str
) -> dict[str, tuple[float, int]]:
    """Mean score per setting (the label before ``@``) over the runs that scored ``dataset``,
    with how many did: settings compared on different numbers of seeds show it."""
    grouped: dict[str, list[float]] = {}
    for label, datasets in runs.items():
        value = model_score(datasets.get(dataset), metric)
        if value is not None:
            grouped.setdefault(label.split("@")[0], []).append(value)
    return {setting: (statistics.fmean(values), len(values)) for setting, values in grouped.items()}


def table(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: one row per dataset any run scored, MASE / sMAPE per run and per setting."""
    names = list(dict.fromkeys(name for datasets in runs.values() for name in datasets))
    settings = list(dict.fromkeys(label.split("@")[0] for label in runs))
    show_means = len(settings) < len(runs)
    head = [
        "dataset",
        *runs,
        *(f"mean {s}" for s in settings if show_means),
        "best baseline (first scored run)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(mase: float | None, smape: float | None) -> str:
        return "—" if mase is None else f"{mase:.3f} / {smape:.2f}" if smape is not None else f"{mase:.3f}"

    for name in names:
        cells = [name]
        cells += [
            cell(model_score(d.get(name), "mase"), model_score(d.get(name), "smape")) for d in runs.values()
        ]
        if show_means:
            mase, smape = setting_means(runs, name, "mase"), setting_means(runs, name, "smape")
            for setting in settings:
                mean, count = mase.get(setting, (None, 0))
                cells.append(f"{cell(mean, smape.get(setting, (None, 0))[0])} (n={count})" if count else "—")
        first: Mapping[str, Any] = next(
            (d[name] for d in runs.values() if model_score(d.get(name), "mase") is not None), {}
        )
        best = first.get("best_baseline")
        best_mase = ((first.get("scores") or {}).get(best) or {}).get("mase") if best else None
        cells.append(f"{best} {best_mase:.3f}" if isinstance(best_mase, int | float) else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=PATH")
    args = parser.parse_args(argv)
    sys.stdout.write(table(load_runs(args.runs)))


if __name__ == "__main__":
    main()
