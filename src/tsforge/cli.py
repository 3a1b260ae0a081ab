"""The ``tsforge`` command: run summaries, batch forecasts and hand moves of the champion alias."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tsforge import console
from tsforge.errors import TsforgeError

METRIC_ORDER = ("rmse", "mae", "mape", "smape", "mase")


def _table(metrics: dict[str, dict[str, float]]) -> str:
    names = [k for k, v in metrics.items() if isinstance(v, dict) and "rmse" in v]
    width = max(len(name) for name in names) + 2
    header = " " * width + "".join(f"{m:>10}" for m in METRIC_ORDER)
    rows = [f"{name:{width}}" + "".join(f"{metrics[name][m]:>10.4g}" for m in METRIC_ORDER) for name in names]
    return "\n".join([header, *rows])


def summary(root: Path) -> str:
    """Headline metrics, the registered version and the promotion decision, as text."""
    from tsforge.catalog import Project, read_json

    project = Project(root)
    metrics, promotion = read_json(project.metrics), read_json(project.promotion)
    if promotion["promote"]:
        verdict = "promoted to champion"
    elif promotion.get("champion_after") == promotion["version"]:
        verdict = "re-scored, stays champion"
    else:
        verdict = "not promoted (challenger only)"
    return "\n".join(
        [
            f"Test split: {metrics['test_windows']} windows, horizon {metrics['horizon']}, "
            f"seasonal period {metrics['season_period']} (errors in original units"
            + (
                f"; per series, averaged over {metrics['series']} series)"
                if metrics.get("series", 1) > 1
                else ")"
            ),
            _table(metrics),
            "",
            f"Registered model version {promotion['version']}: {verdict}.",
            f"  why: {promotion['reason']}",
            "",
            "Compare runs in the MLflow UI:  make ui   (then open "
            + promotion.get("runs_url", "http://127.0.0.1:5000")
            + ")",
        ]
    )


def _configure(root: Path) -> str:
    from tsforge import tracking

    return tracking.configure_project(root, os.environ.get("MLFLOW_TRACKING_URI"))


def promote(root: Path, version: str, reason: str) -> str:
    """Move ``champion`` to ``version`` by hand, recording why."""
    from tsforge import registry

    name = _configure(root)
    registry.move_alias(name, registry.CHAMPION, version, f"manual promote: {reason}")
    return f"{name}: champion -> version {version}"


def rollback(root: Path, reason: str) -> str:
    """Move ``champion`` back to the version that held it before the current one."""
    from tsforge import registry

    name = _configure(root)
    current, target = registry.rollback_champion(name, f"rollback: {reason}")
    return f"{name}: champion rolled back from version {current} to {target}"


def forecast(root: Path, version: str | None, alias: str | None, future: Path | None = None) -> str:
    """Forecast every series of the snapshot with the champion (or ``version`` / ``alias``),
    reading the horizon's known-future features from ``future`` when the model needs them."""
    from tsforge import delivery
    from tsforge.catalog import Project
    from tsforge.sources import read_table

    name = _configure(root)
    delivery.end_dead_runs(Project(root))  # an earlier forecast killed mid-run
    planned = None if future is None else read_table(future if future.is_absolute() else root / future)
    done = delivery.deliver(Project(root), name, version=version, alias=alias, future=planned)
    out = (
        f"{name} version {done.model_version}: {done.rows} forecast rows for {done.series} series "
        f"-> {done.path}"
    )
    if done.new_series:
        shown = ", ".join(done.new_series[:10]) + (" ..." if len(done.new_series) > 10 else "")
        out += f"\n{len(done.new_series)} series new to the model, forecast from their own history: {shown}"
    return out


def tune_job(root: Path, workers: int) -> int:
    """Bring the inputs up to date, run the tune stage with ``workers`` workers, record it in DVC.

    ``dvc commit`` stores the search's outputs in dvc.lock as if `dvc repro` had run the
    stage, so the next `dvc repro` goes on with train instead of searching again.
    """
    import subprocess

    from tsforge.retrain import job_environment

    env = job_environment()
    steps = [
        ["dvc", "repro", "window"],
        [sys.executable, "pipelines/tune.py", "--workers", str(workers)],
        ["dvc", "commit", "--force", "tune"],
    ]
    for step in steps:
        if subprocess.run(step, cwd=root, env=env, check=False).returncode != 0:
            sys.stderr.write(f"ERROR: `{' '.join(step[-3:])}` failed; see the output above.\n")
            return 1
    sys.stdout.write(f"search finished with {workers} worker(s); `dvc repro` continues with train.\n")
    return 0


def retrain_job(root: Path) -> int:
    """One scheduled retraining cycle; the exit status a scheduler acts on."""
    import logging

    from tsforge import retrain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with retrain.project_lock(root):
            record = retrain.retrain(root)
    except retrain.RetrainLocked as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return retrain.EXIT_LOCKED
    line = retrain.summary_line(record)
    failed = record.status == "failed" or record.forecast_error is not None
    (sys.stderr if failed else sys.stdout).write(line + "\n")
    return 1 if failed else 0


def _worker_count(text: str) -> int:
    """``--workers``: a whole number of at least 1 (0 would report a search that never ran)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {count}")
    return count


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tsforge`` command."""
    parser = argparse.ArgumentParser(prog="tsforge", description=__doc__)
    parser.add_argument("--project", type=Path, default=Path(), help="project root (default: .)")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"show third-party logs (TensorFlow's C++ log, keras-tuner's tables): {console.VERBOSE_ENV}=1",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("summary", help="print the last run's metrics and promotion decision")
    promote_cmd = commands.add_parser("promote", help="make VERSION the champion")
    promote_cmd.add_argument("version")
    promote_cmd.add_argument("--reason", default="by hand")
    rollback_cmd = commands.add_parser("rollback", help="give champion back to the previous holder")
    rollback_cmd.add_argument("--reason", default="by hand")
    commands.add_parser(
        "retrain",
        help="scheduled job: re-ingest; if the data changed, run the pipeline and the gate",
    )
    forecast_cmd = commands.add_parser(
        "forecast", help="forecast the next horizon steps of every series with the champion"
    )
    which = forecast_cmd.add_mutually_exclusive_group()
    which.add_argument("--version", help="a registered version instead of the champion")
    which.add_argument("--alias", help="the version holding this alias (default: champion)")
    forecast_cmd.add_argument(
        "--future",
        type=Path,
        help="CSV/Parquet of the known-future features over the horizon (time, series id, features)",
    )
    tune_cmd = commands.add_parser(
        "tune", help="run the search now, in keras-tuner's distributed mode with --workers N"
    )
    tune_cmd.add_argument(
        "--workers", type=_worker_count, default=1, help="worker processes, at least 1 (default 1)"
    )
    args = parser.parse_args(argv)
    if args.verbose:
        os.environ[console.VERBOSE_ENV] = "1"  # the stages a job starts inherit it
    settings = console.prepare()
    if args.command == "retrain":
        return retrain_job(args.project)
    if args.command == "tune":
        return tune_job(args.project, args.workers)
    console.configure_logging(settings)
    try:
        if args.command == "summary":
            out = summary(args.project)
        elif args.command == "forecast":
            out = forecast(args.project, args.version, args.alias, args.future)
        elif args.command == "promote":
            out = promote(args.project, args.version, args.reason)
        else:
            out = rollback(args.project, args.reason)
    except (TsforgeError, FileNotFoundError) as exc:
        sys.stderr.write(f"ERROR: {exc}\n")
        return 2
    except Exception as exc:
        from tsforge.stage import tracking_refusal

        refused = tracking_refusal(exc)
        if refused is None:
            raise
        sys.stderr.write(f"ERROR: {refused}\n")
        return 2
    sys.stdout.write(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
