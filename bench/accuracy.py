"""`make bench-accuracy`: accuracy of the pipeline across datasets (issue 12, item 6).

One `dvc repro` per dataset, each in a fresh copy of the project (bench/work/accuracy-<name>,
git-ignored; its MLflow store stays there, one experiment per dataset) with params.yaml's
defaults except what belongs to the data:

- ``data``: source, target column, time column, ``series_id`` for competition panels;
- the split: competition panels use the official one, each series' last h rows are the
  test (``scale.val_size`` = ``scale.test_size`` = h); single series keep the fraction split
  of params.yaml (the official single-series tests are one window, too few to rank methods);
- ``window.horizon`` = the official horizon, ``window.input_size`` by :func:`input_size_rule`;
- ``evaluate.season_period`` = the known seasonal period; competition panels also fit Theta
  on each series' whole history (``evaluate.theta_history: 1000``), as the competitions did;
- ``tracking.experiment`` = ``accuracy-<name>``;
- the covariates (issue 25): every run sets ``data.features``, ``data.future_features``,
  ``data.calendar``, ``data.holidays`` and ``data.static_features`` explicitly, off unless the
  dataset names them, so params.yaml's defaults never add features to a univariate entry.

co2 runs on params.yaml's own window and evaluate settings: it is the bundled default.

Covariate datasets run twice, as a pair: ``<name>`` without covariates and ``<name>+features``
(``taylor+calendar`` for taylor) with the data keys of :attr:`Dataset.features`, on the same
split, horizon and input; ACCURACY.md's covariate table sets the two MASEs side by side with
the best baseline of the run with covariates (the feature-aware ``gbm`` among them). The
synthetic ``retail`` panel (bench/synthetic.py, effects known) is written as Parquet into the
project copy and read with ``data.source: file``.

    python -m bench.accuracy --datasets covariates            # every covariate run (taylor and
                                                              # seatbelts' twins are the univariate entries)
    python -m bench.accuracy --datasets retail,retail+features --plan

Each run's reports (metrics, scale, EDA, training, tuning, promotion) and its wall time are
merged into bench/accuracy.json (datasets not run keep their last figures) and rendered as
bench/ACCURACY.md. ``--quick`` (one one-epoch trial, two epochs of training: a smoke test)
writes bench/work/accuracy-quick.json and bench/work/ACCURACY-quick.md instead, so the
committed figures always come from full runs.

    python -m bench.accuracy                                  # every dataset (hours)
    python -m bench.accuracy --datasets m3-monthly,airpassengers
    python -m bench.accuracy --datasets airpassengers --quick # smoke test, about a minute
    python -m bench.accuracy --plan                           # the settings, nothing run
    python -m bench.accuracy --report                         # ACCURACY.md from accuracy.json

An experiment changes params.yaml's defaults with ``--set`` (any key, dotted, the value in
YAML; it wins over the data-specific settings too) and writes its figures elsewhere with
``--out``, so bench/accuracy.json only ever holds the defaults' figures and every
experiment in bench/EXPERIMENTS.md is one command:

    python -m bench.accuracy --datasets m3-yearly --set window.min_history=null \
        --set train.seed=7 --set tune.seed=7 --out bench/work/e9-s7-off
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench import m3, published, synthetic
from bench.run import BIN, ROOT, WORK, make_project, sh
from tsforge.catalog import Project, read_json
from tsforge.config import DataConfig, Params, TrainConfig, merge_sections, parse_params
from tsforge.data_contract import min_rows
from tsforge.errors import ConfigError
from tsforge.scaling import series_split
from tsforge.sources import BUNDLED_TARGETS, COMPETITIONS, load_source
from tsforge.windowing import WindowSpec

RESULTS = ROOT / "bench/accuracy.json"
REPORT = ROOT / "bench/ACCURACY.md"
QUICK_RESULTS = WORK / "accuracy-quick.json"
QUICK_REPORT = WORK / "ACCURACY-quick.md"
SERIES_COLUMN = "series"
MIN_INPUT = 8
# One untuned network, when the config knows ensembles too.
QUICK_PARAMS: dict[str, Any] = {
    "tune": {"strategy": "random", "max_trials": 1, "max_epochs": 1, "folds": 1},
    "train": {
        "epochs": 2,
        "patience": 2,
        **{k: 1 for k in ("ensemble_trials", "ensemble_seeds") if k in {f.name for f in fields(TrainConfig)}},
    },
}
METRICS = ("smape", "mase", "mape")
# The model's MASE range across three seeds on the panels (bench/EXPERIMENTS.md, E9: M1
# quarterly 1.686-1.718), quoted in ACCURACY.md beside the margins.
SEED_SPREAD = "2 %"
# scale.json keys that describe the run rather than the representation
BOOKKEEPING = {"fill_policy", "filled_values", "series", "rows"}
# The data keys of the covariates and their values when a run uses none (issue 25). Written
# for every dataset, so params.yaml's defaults never slip covariates into a univariate entry.
NO_COVARIATES: dict[str, Any] = {
    "features": [],
    "future_features": [],
    "calendar": "none",
    "holidays": None,
    "static_features": [],
}
# The bar for a dataset whose covariates carry real signal: MASE with them at most 0.8
# of the MASE without (the synthetic retail panel is built to clear it).
FEATURE_TARGET = 0.8
# A change in MASE smaller than this is within the seed spread (SEED_SPREAD) either way.
SEED_TOLERANCE = 0.02
COVARIATE_GROUP = "covariates"  # --datasets covariates: every covariate pair


@dataclass(frozen=True)
class Dataset:
    """One dataset of the suite and what is known about it (not tuned on it)."""

    name: str
    title: str
    source: str
    horizon: int | None = None  # None: params.yaml's own window and evaluate settings
    period: int | None = None
    panel: bool = False
    note: str = ""
    published: Mapping[str, float] = field(default_factory=dict)
    published_note: str = ""
    target_column: str | None = None  # a file source's target (bundled ones know theirs)
    series_column: str = SERIES_COLUMN  # data.series_id of a panel
    split: int | None = None  # rows of each series' test part and of the validation part before it
    path: str | None = None  # data.path of a file source, relative to the project copy
    generate: Callable[[], pd.DataFrame] | None = None  # the file at ``path``, written into the copy
    features: Mapping[str, Any] = field(default_factory=dict)  # covariate data keys (NO_COVARIATES')
    twin: str | None = None  # a run with covariates: the dataset's run without them

    @property
    def target(self) -> str:
        """The column to forecast."""
        if self.target_column is not None:
            return self.target_column
        return "value" if self.panel else BUNDLED_TARGETS[self.source]

    @property
    def competition(self) -> bool:
        """Whether the source is a competition panel (official split, Theta on all history)."""
        prefix, _, rest = self.source.partition(":")
        return bool(rest) and prefix in COMPETITIONS

    def frame(self) -> pd.DataFrame:
        """The dataset's rows: generated, or loaded from its source with the target only."""
        if self.generate is not None:
            return self.generate()
        cfg = DataConfig(
            source=self.source,
            target=(self.target,),
            series_id=self.series_column if self.panel else None,
        )
        return load_source(cfg).frame


def with_covariates(
    dataset: Dataset, features: Mapping[str, Any], note: str, label: str = "features"
) -> Dataset:
    """The covariate run of ``dataset``: named ``<name>+<label>``, its twin the run without.

    Args:
        dataset: The dataset as run without covariates (its horizon, period and split are kept).
        features: Data keys to set (``features``, ``future_features``, ``calendar``,
            ``holidays``, ``static_features``); the others stay off.
        note: Why these covariates, for the report.
        label: Suffix of the name.

    Returns:
        The variant, with no published figures (those are the univariate method's).
    """
    unknown = set(features) - set(NO_COVARIATES)
    if unknown:
        raise ValueError(f"{dataset.name}: not covariate keys: {sorted(unknown)}")
    return replace(
        dataset,
        name=f"{dataset.name}+{label}",
        title=f"{dataset.title}, with {label}",
        note=note,
        published={},
        published_note="",
        features=dict(features),
        twin=dataset.name,
    )


M3_NOTE = (
    "Published sMAPE as cited in the N-BEATS paper (Oreshkin et al., ICLR 2020), copied from "
    "bench/m3.py; not re-checked against the paper here (no copy offline). Published sMAPE is "
    "per series over the 18 test months, then averaged over series, as the evaluate stage does."
)
DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "m3-monthly", "M3 monthly", "m3:monthly", 18, 12, panel=True,
        published=m3.PUBLISHED, published_note=M3_NOTE,
    ),
    Dataset("m3-quarterly", "M3 quarterly", "m3:quarterly", 8, 4, panel=True),
    Dataset("m3-yearly", "M3 yearly", "m3:yearly", 6, 1, panel=True),
    Dataset(
        "m3-other", "M3 other", "m3:other", 8, 1, panel=True,
        note="no seasonal period is known for M3 'other' (the package gives 1)",
    ),
    Dataset("m1-monthly", "M1 monthly", "m1:monthly", 18, 12, panel=True),
    Dataset("m1-quarterly", "M1 quarterly", "m1:quarterly", 8, 4, panel=True),
    Dataset("airpassengers", "AirPassengers", "airpassengers", 12, 12),
    Dataset(
        "taylor", "taylor (half-hourly electricity demand)", "taylor", 48, 48,
        note="h = one day; the period is the daily cycle (48), the weekly one (336) is left to the model",
    ),
    Dataset(
        "seatbelts", "Seatbelts (drivers killed or seriously injured)", "seatbelts", 12, 12,
        note="univariate: the target is the `drivers` column; kms, PetrolPrice and law are not used",
    ),
    Dataset(
        "co2", "CO2 (weekly, Mauna Loa)", "co2",
        note="params.yaml's own window and evaluate settings (the bundled default)",
    ),
    Dataset(
        "sunspots", "sunspots (yearly)", "sunspots", 11, 11,
        note="h and period = one solar cycle (about 11 years); the cycle is not strictly periodic",
    ),
)  # fmt: skip
UNIVARIATE = {d.name: d for d in DATASETS}

RETAIL_PATH = "data/external/retail.parquet"
BJSALES = Dataset(
    "bjsales", "BJsales (Box & Jenkins sales with a leading indicator)", "bjsales", 3, 1,
    note="h = 3, the periods by which the indicator leads sales; no season (R's frequency 1); the "
    "dates are positions, not days",
)  # fmt: skip
INSURANCE = Dataset(
    "insurance", "insurance (fpp2: monthly quotes and TV advertising)", "insurance", 4, 1, split=8,
    note="40 months: the last 8 test (5 windows of h = 4) and the 8 before validate (5 windows), "
    "leaving 12 training windows at input 8; no season: quotes' lag-12 autocorrelation is negative "
    "(-0.21) and fpp2 models the series with a non-seasonal ARIMA",
)  # fmt: skip
RETAIL = Dataset(
    "retail", "retail (synthetic daily store panel, effects known)", "file", 14, synthetic.RETAIL_PERIOD,
    panel=True, target_column="sales", series_column="store", split=28, path=RETAIL_PATH,
    generate=synthetic.retail_panel,
    note="bench/synthetic.py's retail_panel (60 stores x 3 years, seed 0): h = two weeks, the last 28 "
    "days of each store test (15 windows) and the 28 before validate",
)  # fmt: skip
COVARIATE_DATASETS: tuple[Dataset, ...] = (
    with_covariates(
        UNIVARIATE["taylor"], {"calendar": "auto"},
        "the calendar's encodings of each timestamp (data.calendar: auto), known for the horizon",
        label="calendar",
    ),
    with_covariates(
        UNIVARIATE["seatbelts"], {"future_features": ["law"], "features": ["PetrolPrice"]},
        "law (compulsory seat belts from February 1983, announced ahead) known for the horizon; "
        "PetrolPrice observed up to the forecast origin",
    ),
    BJSALES,
    with_covariates(
        BJSALES, {"features": ["lead"]},
        "lead observed up to the forecast origin: it leads sales by about 3 periods, so taking it as "
        "known for the horizon would leak the future",
    ),
    INSURANCE,
    with_covariates(
        INSURANCE, {"future_features": ["tv_advert"]},
        "TV advertising is planned ahead: known for the horizon",
    ),
    RETAIL,
    with_covariates(
        RETAIL,
        {
            "calendar": "auto", "holidays": synthetic.RETAIL_COUNTRY,
            "future_features": ["promo", "price"], "features": ["temperature"],
            "static_features": ["store_type", "region_size"],
        },
        "promotions and planned prices known for the horizon, US holidays and the calendar derived, "
        "temperature observed up to the origin, store type and region size per store; the effects "
        f"are bench/synthetic.py's constants, strong enough for the issue's target (MASE with "
        f"covariates <= {FEATURE_TARGET} x without)",
    ),
)  # fmt: skip
DATASETS = (*DATASETS, *COVARIATE_DATASETS)
BY_NAME = {d.name: d for d in DATASETS}


def series_lengths(dataset: Dataset) -> list[int]:
    """Rows of every series of ``dataset`` (one entry for a single series)."""
    frame = dataset.frame()
    if dataset.panel:
        return [int(n) for n in frame.groupby(dataset.series_column, sort=False).size()]
    return [len(frame)]


def covariate_keys(dataset: Dataset) -> dict[str, Any]:
    """The covariate data keys of a run: the dataset's, the others off.

    Only keys this tsforge knows are written (``tsforge.config.DataConfig``'s fields), so the
    univariate entries still plan on a version without covariates; a dataset that names an
    unknown key is refused by ``parse_params``.
    """
    known = {f.name for f in fields(DataConfig)}
    return {**{k: v for k, v in NO_COVARIATES.items() if k in known}, **dataset.features}


def write_data(dataset: Dataset, project: Path) -> Path | None:
    """Write a generated dataset's file at its ``data.path`` in ``project`` (None: nothing to write)."""
    if dataset.generate is None or dataset.path is None:
        return None
    path = project / dataset.path
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.generate().to_parquet(path, index=False)
    return path


def input_size_rule(horizon: int, period: int, shortest: int, params: Params) -> tuple[int, str]:
    """``window.input_size`` for a dataset: one rule for every dataset, not a tuned number.

    ``max(2·horizon, 2·period, 8)``: two horizons and two seasons of history, at least 8
    steps; lowered, when the shortest series cannot hold that many, to the largest size with
    which that series still has a complete test window (plus a validation and a training
    window for a single series; one row more when differencing may be on;
    :func:`tsforge.data_contract.min_rows` without padding). The contract would let the input
    grow past that, padding the short series' test windows (``window.min_history``), but on
    the three panels where that changes the input it did not gain by sMAPE (E12).

    Args:
        horizon: The official horizon.
        period: The seasonal period.
        shortest: Rows of the shortest series.
        params: The run's params (split, step, differencing, single series or panel).

    Returns:
        The input size and how it was chosen.
    """
    wanted = max(2 * horizon, 2 * period, MIN_INPUT)
    lost_rows = int(str(params.scale.difference).lower() != "false")

    def rows_needed(size: int) -> int:
        spec = WindowSpec(size, horizon, params.window.step)
        return min_rows(
            spec,
            lambda n: series_split(n, params.scale),
            lost_rows,
            need_train=params.data.series_id is None,
        )

    for size in range(wanted, 0, -1):
        if rows_needed(size) <= shortest:
            if size == wanted:
                return size, f"max(2·{horizon}, 2·{period}, {MIN_INPUT}) = {wanted}"
            return size, (
                f"max(2·{horizon}, 2·{period}, {MIN_INPUT}) = {wanted}, capped at {size} by the "
                f"shortest series ({shortest} rows)"
            )
    raise ValueError(f"the shortest series ({shortest} rows) is too short for horizon {horizon}")


def parse_assignment(text: str) -> tuple[tuple[str, ...], Any]:
    """``"train.seed=7"`` -> (("train", "seed"), 7): a dotted params key and a YAML value."""
    key, sep, value = text.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not sep or len(path) < 2 or not all(path):
        raise SystemExit(
            f"--set {text!r}: expected section.key=value, e.g. --set window.min_history=null "
            "or --set tune.space.family=rnn"
        )
    return path, yaml.safe_load(value)


def with_assignments(raw: Mapping[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """A copy of raw params with each ``section.key=value`` set; keys within ``tune.space``
    change one dimension, unlike an override mapping, which replaces the space whole."""
    out = copy.deepcopy(dict(raw))
    for text in assignments:
        path, value = parse_assignment(text)
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None and depth > 0:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise SystemExit(
                    f"--set {text!r}: params.yaml has no section {'.'.join(path[: depth + 1])!r}"
                )
            node = child
        node[path[-1]] = value
    return out


def plan(
    dataset: Dataset, quick: bool, assignments: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The params override for ``dataset`` and the settings to report.

    Args:
        dataset: The dataset.
        quick: Smoke-test budget.
        assignments: ``--set`` values (``section.key=value``), winning over everything else.

    Returns:
        (override merged onto params.yaml, settings in words and numbers).
    """
    base = yaml.safe_load(Project(ROOT).params.read_text())
    data = {
        "source": dataset.source,
        "path": dataset.path,
        "time_column": "date",
        "target": [dataset.target],
        "freq": None,
        "timezone": None,
        "until": None,
        "series_id": dataset.series_column if dataset.panel else None,
        **covariate_keys(dataset),
    }
    override: dict[str, Any] = {
        "data": data,
        "tracking": {"experiment": f"accuracy-{dataset.name}"},
        **(QUICK_PARAMS if quick else {}),
    }
    h = dataset.horizon
    if h is not None:
        size = dataset.split or (h if dataset.competition else None)
        override["scale"] = {"val_size": size, "test_size": size}
        override["evaluate"] = {
            "season_period": dataset.period,
            **({"theta_history": 1000} if dataset.competition else {}),
        }
        override["window"] = {"horizon": h}
    if assignments:  # the experiment's settings win over the data-specific ones too
        override = with_assignments(merge_sections(base, override), assignments)
    params = parse_params(merge_sections(base, override))  # the rule sees the --set split and horizon
    lengths = series_lengths(dataset)
    if any(parse_assignment(a)[0] == ("window", "input_size") for a in assignments):
        input_size, reason = params.window.input_size, "--set"
    elif h is not None:
        horizon = params.window.horizon
        input_size, reason = input_size_rule(horizon, int(dataset.period or 1), min(lengths), params)
        override = merge_sections(override, {"window": {"input_size": input_size}})
        params = parse_params(merge_sections(base, override))
    else:
        input_size, reason = params.window.input_size, "params.yaml"
    scale = params.scale
    split_keys = {("scale", k) for k in ("val_size", "test_size", "train_fraction", "val_fraction")}
    by_set = any(parse_assignment(a)[0] in split_keys for a in assignments)
    if dataset.competition and scale.test_size == scale.val_size == h and not by_set:
        split = f"official: each series' last {h} rows are the test, the {h} before validate"
    elif scale.test_size is not None and scale.val_size is not None:
        origin = " (--set)" if by_set else "" if dataset.panel or dataset.split else " (params.yaml)"
        split = f"each series' last {scale.test_size} rows test, the {scale.val_size} before validate{origin}"
    else:
        test_fraction = 1 - scale.train_fraction - scale.val_fraction
        origin = "--set" if by_set else "params.yaml"
        split = f"fractions {scale.train_fraction}/{scale.val_fraction}/{test_fraction:.2f} ({origin})"
    settings = {
        "source": dataset.source,
        "target": dataset.target,
        "series": len(lengths),
        "shortest_series": min(lengths),
        "horizon": params.window.horizon,
        "input_size": input_size,
        "input_size_rule": reason,
        "season_period": params.evaluate.season_period or "EDA",
        "split": split,
        "theta_history": params.evaluate.theta_history,
        "experiment": params.tracking.experiment,
        "quick": quick,
        "note": dataset.note,
        "overrides": list(assignments),
        "covariates": {k: v for k, v in params_data(params).items() if v not in (None, "none", [], ())},
        "twin": dataset.twin,
    }
    return override, settings


def params_data(params: Params) -> dict[str, Any]:
    """The covariate data keys as the run's params hold them (after any ``--set``)."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key in NO_COVARIATES
        if (value := getattr(params.data, key, None)) is not None
    }


def _read(path: Path) -> Any:
    return read_json(path) if path.exists() else None


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def scores(metrics: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Every method's sMAPE, MASE and MAPE from reports/metrics.json.

    A method is any entry holding a ``mase`` number (model, naive, seasonal_naive, theta,
    ets, ...): the list is read, not assumed.
    """
    return {
        name: {m: _finite(value.get(m)) for m in METRICS}
        for name, value in metrics.items()
        if isinstance(value, Mapping) and isinstance(value.get("mase"), int | float)
    }


def verdict(methods: Mapping[str, Mapping[str, float | None]], metric: str) -> tuple[str | None, bool | None]:
    """The best baseline by ``metric`` and whether the model beats it (None when unscored)."""
    baselines: dict[str, float] = {}
    for name, values in methods.items():
        value = values.get(metric)
        if name != "model" and value is not None:
            baselines[name] = value
    if not baselines:
        return None, None
    best = min(baselines, key=baselines.__getitem__)
    model = methods.get("model", {}).get(metric)
    return best, None if model is None else bool(model < baselines[best])


def representation(scale: Mapping[str, Any], windows: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the model saw and why: every choice in reports/scale.json, and window normalisation."""
    out = {k: v for k, v in scale.items() if k not in BOOKKEEPING}
    if windows is not None and "normalize" in windows:
        out["normalize"] = windows["normalize"]
    return out


def member_families(project: Path, training: Mapping[str, Any]) -> dict[str, int]:
    """How many of the ensemble's members are of each model family (rnn, mlp, attention),
    from the trials table of the search they came from."""
    import csv

    table = Project(project).tuning_trials
    if not table.exists():
        return {}
    with table.open(encoding="utf-8") as handle:
        family = {row["trial_id"]: row.get("family") or "rnn" for row in csv.DictReader(handle)}
    members = (training.get("ensemble") or {}).get("members") or []
    counts: dict[str, int] = {}
    for member in members:
        name = family.get(str(member.get("trial_id")), "?")
        counts[name] = counts.get(name, 0) + 1
    return counts


def collect(project: Path, settings: Mapping[str, Any], repro_s: float, total_s: float) -> dict[str, Any]:
    """One dataset's entry of accuracy.json from the project copy's reports."""
    files = Project(project)
    metrics = _read(files.metrics)
    methods = scores(metrics)
    best, beats = verdict(methods, "mase")
    best_smape, beats_smape = verdict(methods, "smape")
    training = _read(files.training) or {}
    tuning = _read(files.tuning) or {}
    eda = _read(files.eda) or {}
    entry: dict[str, Any] = {
        "settings": dict(settings),
        "series": metrics.get("series"),
        "test_windows": metrics.get("test_windows"),
        "season_period": metrics.get("season_period"),
        "scores": methods,
        "best_baseline": best,
        "model_beats_best_baseline": beats,
        "best_baseline_smape": best_smape,
        "model_beats_best_baseline_smape": beats_smape,
        "representation": representation(_read(files.scale_report) or {}, _read(files.windows_report)),
        "eda": {
            "season_period": eda.get("season_period"),
            "recommendation": eda.get("recommendation"),
            "input_size_note": eda.get("input_size_note"),
        },
        "training": {
            k: training[k]
            for k in ("hyperparameters", "epochs", "best_val_mae", "fit_seconds", "ensemble", "combination")
            if k in training
        },
        "tuning": {k: v for k, v in tuning.items() if isinstance(v, str | int | float | bool)},
        "member_families": member_families(project, training),
        "promotion": _read(files.promotion),
        "repro_s": round(repro_s, 1),
        "wall_s": round(total_s, 1),
        "run_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
    }
    return entry


def _commit() -> str:
    head = sh(ROOT, "git", "rev-parse", "--short", "HEAD").stdout.strip()
    dirty = sh(ROOT, "git", "status", "--porcelain", "--untracked-files=no").stdout.strip()
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def run_one(dataset: Dataset, quick: bool, assignments: Sequence[str] = ()) -> dict[str, Any]:
    """`dvc repro` on ``dataset`` in a fresh project copy; its entry (or its error)."""
    started = time.perf_counter()
    override, settings = plan(dataset, quick, assignments)
    project = make_project(f"accuracy-{dataset.name}", override)
    write_data(dataset, project)  # after the copy's commit: data/external/ is git-ignored anyway
    repro_started = time.perf_counter()
    try:
        sh(project, str(BIN / "dvc"), "repro")
    except RuntimeError as exc:
        return {
            "settings": settings,
            "error": str(exc)[-3000:],
            "wall_s": round(time.perf_counter() - started, 1),
            "run_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _commit(),
        }
    repro_s = time.perf_counter() - repro_started
    return collect(project, settings, repro_s, time.perf_counter() - started)


def _clean(value: Any) -> Any:
    """JSON without NaN/inf (null instead), so any JSON reader takes accuracy.json."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def merge(path: Path, name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Put ``entry`` under ``name`` in the results file, keeping every other dataset's."""
    results = json.loads(path.read_text()) if path.exists() else {}
    datasets = results.get("datasets", {})
    datasets[name] = _clean(entry)
    order = [d.name for d in DATASETS]
    results["datasets"] = dict(
        sorted(datasets.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    )
    results["updated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _num(value: Any, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def margin(model: float | None, baseline: float | None) -> str:
    """`` (−1.2 %)``: how far the model's score is below (−) or above (+) the baseline's."""
    if model is None or not baseline:
        return ""
    change = 100 * (model / baseline - 1)
    return f" ({'−' if change < 0 else '+'}{abs(change):.1f} %)"


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("**yes**" if value else "no")


def _representation_lines(rep: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in rep.items():
        if key.endswith("_reason"):
            if key[: -len("_reason")] not in rep:
                lines.append(f"- {key[: -len('_reason')]}: {value}")
            continue
        reason = rep.get(f"{key}_reason")
        shown = json.dumps(value) if isinstance(value, Mapping | list) else value
        lines.append(f"- {key}: `{shown}`" + (f" — {reason}" if reason else ""))
    return lines


def _overrides(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"`{a}`" for a in settings.get("overrides", []))


def _dataset_section(name: str, entry: Mapping[str, Any]) -> list[str]:
    dataset = BY_NAME.get(name)
    settings = entry.get("settings", {})
    title = dataset.title if dataset else name
    lines = [f"### {title} (`{name}`)", ""]
    if "error" in entry:
        error = str(entry["error"]).strip()[-1500:]
        return [
            *lines,
            f"`dvc repro` failed after {_minutes(entry.get('wall_s'))}:",
            "",
            "```",
            error,
            "```",
            "",
        ]
    lines += [
        f"{entry.get('series')} series, {entry.get('test_windows')} test windows, horizon "
        f"{settings.get('horizon')}, input {settings.get('input_size')} ({settings.get('input_size_rule')}), "
        f"season {entry.get('season_period')}; split: {settings.get('split')}. "
        f"`dvc repro` {_minutes(entry.get('repro_s'))} "
        f"(with the project copy {_minutes(entry.get('wall_s'))})"
        f"; run {entry.get('run_at')} on {entry.get('commit')}"
        + (" — **quick mode: a smoke test, not a result**" if settings.get("quick") else "")
        + "."
        + (f" Params changed by --set: {_overrides(settings)}." if settings.get("overrides") else "")
        + (f" Covariates: {covariate_words(settings['covariates'])}." if settings.get("covariates") else ""),
        "",
        "| method | sMAPE | MASE | MAPE |",
        "|---|---|---|---|",
    ]
    methods = entry.get("scores", {})
    ordered = sorted(
        methods, key=lambda k: (k != "model", methods[k].get("mase") is None, methods[k].get("mase") or 0)
    )
    for method in ordered:
        v = methods[method]
        label = f"**{method}**" if method == "model" else method
        lines.append(
            f"| {label} | {_num(v.get('smape'), 2)} | {_num(v.get('mase'), 3)} | {_num(v.get('mape'), 2)} |"
        )
    if dataset and dataset.published:
        for method, value in dataset.published.items():
            lines.append(f"| {method} (published) | {value:.2f} | | |")
    lines += [
        "",
        f"Best baseline by MASE: {entry.get('best_baseline')}; the model beats it: "
        f"{_yes(entry.get('model_beats_best_baseline'))}. By sMAPE: {entry.get('best_baseline_smape')}; "
        f"beaten: {_yes(entry.get('model_beats_best_baseline_smape'))}.",
    ]
    if dataset and dataset.published_note:
        lines += ["", dataset.published_note]
    lines += ["", "Representation (reports/scale.json, reports/windows.json):", ""]
    lines += _representation_lines(entry.get("representation", {}))
    eda = entry.get("eda", {})
    if eda.get("recommendation"):
        lines += ["", f"EDA (season {eda.get('season_period')}): `{json.dumps(eda['recommendation'])}`"]
    training = entry.get("training", {})
    if training:
        lines += [
            "",
            f"Training: {training.get('epochs')} epochs, {_minutes(training.get('fit_seconds'))} of fitting; "
            f"hyperparameters `{json.dumps(training.get('hyperparameters'))}`.",
        ]
        if entry.get("member_families"):
            families = ", ".join(f"{n} {k}" for k, n in sorted(entry["member_families"].items()))
            lines += ["", f"Ensemble members by family: {families}."]
        if "ensemble" in training:
            lines += ["", f"Ensemble: `{json.dumps(training['ensemble'])}`"]
        if "combination" in training:
            combination = training["combination"]
            lines += ["", f"Served: **{combination['served']}** — {combination['reason']}."]
    promotion = entry.get("promotion") or {}
    if promotion:
        lines += ["", f"Gate: promoted {_yes(promotion.get('promote'))} — {promotion.get('reason')}"]
    if settings.get("note"):
        lines += ["", f"Note: {settings['note']}."]
    return [*lines, ""]


def covariate_words(covariates: Mapping[str, Any]) -> str:
    """``future_features [law], features [PetrolPrice]``: a run's covariates in one line."""
    if not covariates:
        return "none"
    return ", ".join(
        f"{key} [{', '.join(map(str, value))}]" if isinstance(value, list | tuple) else f"{key} {value}"
        for key, value in covariates.items()
    )


def covariate_verdict(without: float | None, with_covariates: float | None) -> str:
    """What the covariates did to the model's MASE, against :data:`FEATURE_TARGET` and the seed spread."""
    if without is None or with_covariates is None or not without:
        return "—"
    ratio = with_covariates / without
    if ratio <= FEATURE_TARGET:
        return f"**pays** (≤ {FEATURE_TARGET}×)"
    if ratio < 1 - SEED_TOLERANCE:
        return "helps"
    if ratio <= 1 + SEED_TOLERANCE:
        return f"no change beyond the {SEED_SPREAD} seed spread"
    return "hurts"


def covariate_table(datasets: Mapping[str, Any]) -> list[str]:
    """ACCURACY.md's covariate section: each run with covariates beside its twin without."""
    pairs = [
        (name, BY_NAME[name].twin, entry)
        for name, entry in datasets.items()
        if name in BY_NAME and BY_NAME[name].twin is not None
    ]
    if not pairs:
        return []
    lines = [
        "## Covariates",
        "",
        "Each covariate dataset runs twice on the same split, horizon and input: without covariates "
        "(the univariate entry) and with them. *with / without* is the model's MASE ratio; the issue's "
        f"bar where the covariates carry real signal is {FEATURE_TARGET}. The best baseline is that of "
        "the run with covariates, the feature-aware `gbm` (LightGBM on lags and the same covariates) "
        "among them.",
        "",
        "| dataset | covariates | model MASE without | model MASE with | with / without | gbm MASE "
        "| best baseline (MASE) | model beats it | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, twin, entry in pairs:
        twin_entry = datasets.get(twin or "", {})
        without = twin_entry.get("scores", {}).get("model", {}).get("mase")
        methods = entry.get("scores", {})
        with_ = methods.get("model", {}).get("mase")
        best = entry.get("best_baseline")
        ratio = _num(with_ / without, 3) if with_ is not None and without else "—"
        failed = "error" in entry or "error" in twin_entry
        lines.append(
            f"| {name} (vs {twin}) | {covariate_words(entry.get('settings', {}).get('covariates', {}))} | "
            f"{_num(without, 3)} | {_num(with_, 3)} | {ratio} | "
            f"{_num(methods.get('gbm', {}).get('mase'), 3)} | "
            f"{best or '—'} {_num(methods.get(best, {}).get('mase'), 3) if best else ''} | "
            f"{_yes(entry.get('model_beats_best_baseline'))} | "
            f"{'a run failed' if failed else covariate_verdict(without, with_)} |"
        )
    return [*lines, ""]


def _signed(value: float, digits: int) -> str:
    return f"{'−' if value < 0 else '+'}{abs(value):.{digits}f}"


def published_gap(model: float | None, bar: published.Published | None, digits: int) -> str:
    """``+0.012 (+1.5 %)``: tsforge's score minus the best published one (negative: tsforge is lower)."""
    if bar is None or model is None:
        return "—"
    return f"{_signed(model - bar.value, digits)} ({_signed(100 * (model / bar.value - 1), 1)} %)"


def _bar_cell(bar: published.Published | None, digits: int) -> str:
    return "none checked" if bar is None else f"{bar.value:.{digits}f} {bar.system}"


def published_table(
    datasets: Mapping[str, Any], table: Sequence[published.Published] = published.PUBLISHED
) -> list[str]:
    """ACCURACY.md's published bars: each dataset's best checked MASE and sMAPE beside the model's."""
    names = [n for n in datasets if not (n in BY_NAME and BY_NAME[n].twin is not None)]
    lines = [
        "## Published bars",
        "",
        "The lowest published MASE and sMAPE on each dataset that was read in its source file and "
        "measures what ours does (the same series, test rows, horizon, season and metric; "
        "bench/published.py holds every checked figure, where it was read and how it was checked, and "
        "the figures that were not). *gap* is the model's score minus the published one: negative, "
        "the model is lower. The covariate runs have none (the published figures are univariate).",
        "",
        "| dataset | model MASE | best published MASE | gap | model sMAPE | best published sMAPE | gap |",
        "|---|---|---|---|---|---|---|",
    ]
    bars: list[published.Published] = []
    for name in names:
        model = datasets[name].get("scores", {}).get("model", {})
        mase_bar = published.best(name, "mase", table)
        smape_bar = published.best(name, "smape", table)
        bars += [b for b in (mase_bar, smape_bar) if b is not None]
        lines.append(
            f"| {name} | {_num(model.get('mase'), 3)} | {_bar_cell(mase_bar, 3)} | "
            f"{published_gap(model.get('mase'), mase_bar, 3)} | {_num(model.get('smape'), 2)} | "
            f"{_bar_cell(smape_bar, 2)} | {published_gap(model.get('smape'), smape_bar, 2)} |"
        )
    lines += ["", *published_sources(bars), ""]
    return lines


def published_sources(bars: Sequence[published.Published]) -> list[str]:
    """Where each published bar was read and how it was checked, then what could not be checked."""
    lines = ["Sources of the bars above:", ""]
    for bar in bars:
        metric = "MASE" if bar.metric == "mase" else "sMAPE"
        lines.append(
            f"- {bar.dataset}, {metric} {bar.value:.{3 if bar.metric == 'mase' else 2}f}, {bar.system}: "
            f"{bar.source.what}; read from {bar.source.cite()}, {bar.located}. Checked: {bar.checked}."
            + (f" Note: {bar.note}." if bar.note else "")
        )
    if published.NOT_CHECKED:
        lines += ["", "Not used (bench/published.py, NOT_CHECKED):", ""]
        for item in published.NOT_CHECKED:
            cited = f" {item.value}" if item.value is not None else ""
            lines.append(f"- {item.dataset}, {item.system}, {item.metric}{cited}: {item.reason}.")
    return lines


def report(results: Mapping[str, Any]) -> str:
    """ACCURACY.md from the results file's figures."""
    datasets: Mapping[str, Any] = results.get("datasets", {})
    scored = {k: v for k, v in datasets.items() if v.get("model_beats_best_baseline") is not None}
    failed = [k for k, v in datasets.items() if "error" in v]
    wins = sum(bool(v["model_beats_best_baseline"]) for v in scored.values())
    wins_smape = sum(bool(v.get("model_beats_best_baseline_smape")) for v in scored.values())
    quick = [k for k, v in datasets.items() if v.get("settings", {}).get("quick")]
    lines = [
        "# Accuracy suite",
        "",
        "`make bench-accuracy` (bench/accuracy.py): one `dvc repro` per dataset in a fresh copy of the "
        "project, params.yaml's defaults except the data-specific settings below; every figure comes from "
        "that run's reports/metrics.json (per series, then averaged over series). "
        f"Last update {results.get('updated')}.",
        "",
        f"**The model beats the best baseline on {wins} of {len(scored)} datasets** (by MASE; "
        f"by sMAPE on {wins_smape} of {len(scored)})." + (f" Failed: {', '.join(failed)}." if failed else ""),
        "",
    ]
    lines += [
        "The margin beside each verdict is the model's score against the best baseline's. Each "
        f"dataset runs once, with one seed; on the panels the model's MASE moved by up to {SEED_SPREAD} "
        "between seeds (bench/EXPERIMENTS.md, E9), so a margin smaller than that is not settled either way.",
        "",
    ]
    if quick:
        lines += [f"**Quick mode (smoke test, not results): {', '.join(quick)}.**", ""]
    changed = {
        _overrides(v.get("settings", {})) for v in datasets.values() if v.get("settings", {}).get("overrides")
    }
    if changed:
        lines += [
            f"**An experiment: params.yaml's defaults changed by --set ({'; '.join(sorted(changed))}).**",
            "",
        ]
    lines += [
        "| dataset | series | h | input | season | model MASE | best baseline (MASE) | beats | "
        "model sMAPE | best baseline (sMAPE) | beats | promoted | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in datasets.items():
        settings = entry.get("settings", {})
        if "error" in entry:
            cells = [name, settings.get("series"), settings.get("horizon"), settings.get("input_size"), ""]
            cells += ["failed", *[""] * 6, _minutes(entry.get("wall_s"))]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
            continue
        methods = entry.get("scores", {})
        model = methods.get("model", {})
        best, best_s = entry.get("best_baseline"), entry.get("best_baseline_smape")
        promoted = (entry.get("promotion") or {}).get("promote")
        lines.append(
            f"| {name} | {entry.get('series')} | {settings.get('horizon')} | {settings.get('input_size')} | "
            f"{entry.get('season_period')} | {_num(model.get('mase'), 3)} | "
            f"{best} {_num(methods.get(best, {}).get('mase'), 3)} | "
            f"{_yes(entry.get('model_beats_best_baseline'))}"
            f"{margin(model.get('mase'), methods.get(best, {}).get('mase'))} | "
            f"{_num(model.get('smape'), 2)} | {best_s} {_num(methods.get(best_s, {}).get('smape'), 2)} | "
            f"{_yes(entry.get('model_beats_best_baseline_smape'))}"
            f"{margin(model.get('smape'), methods.get(best_s, {}).get('smape'))} | {_yes(promoted)} | "
            f"{_minutes(entry.get('wall_s'))} |"
        )
    lines += ["", *published_table(datasets), *covariate_table(datasets)]
    lines += [
        "## Settings",
        "",
        f"`window.input_size` = max(2·horizon, 2·season, {MIN_INPUT}), lowered only when the shortest "
        "series cannot give its test window with it (a single series needs a training, a validation "
        "and a test window; in a panel, the longer series give the training and validation "
        "windows; a longer input that pads short series' test windows did not gain, E12); co2 keeps "
        "params.yaml's. Competition panels: the official split "
        "(`scale.val_size` = `scale.test_size` = h) and Theta fitted on each series' whole history "
        "(`evaluate.theta_history: 1000`); single series: params.yaml's fraction split. MASE is scaled "
        "per series by its in-sample seasonal-naive error at the season shown.",
        "",
        "Published figures appear only where they were read in their source file and measure what ours "
        "do (Published bars above, bench/published.py); the M3 monthly section's rows marked (published) "
        "are bench/m3.py's citations of the N-BEATS paper, not checked.",
        "",
        "Covariates (`data.features`, `future_features`, `calendar`, `holidays`, `static_features`) are "
        "off in every run but the `+features` / `+calendar` ones, which set the keys shown in their "
        "section; BJsales, insurance and the synthetic retail panel split as their notes say.",
        "",
        "## Per dataset",
        "",
    ]
    for name, entry in datasets.items():
        lines += _dataset_section(name, entry)
    return "\n".join(lines).rstrip() + "\n"


def _settings_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    lines = [
        "| dataset | source | target | series | shortest | h | input (rule) | season | split "
        "| theta_history | covariates |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['source']} | {s['target']} | {s['series']} | {s['shortest_series']} | "
            f"{s['horizon']} | "
            f"{s['input_size']} ({s['input_size_rule']}) | {s['season_period']} | {s['split']} | "
            f"{s['theta_history']} | {covariate_words(s.get('covariates', {}))} |"
        )
    return "\n".join(lines) + "\n"


def _choose(names: str | None) -> list[Dataset]:
    if not names:
        return list(DATASETS)
    wanted: list[str] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        # The covariate group: the new runs only. The twins taylor and seatbelts keep their
        # univariate figures; name them too (taylor,taylor+calendar) to rerun both on one commit.
        wanted += [d.name for d in COVARIATE_DATASETS] if name == COVARIATE_GROUP else [name]
    unknown = [n for n in wanted if n not in BY_NAME]
    if unknown:
        raise SystemExit(
            f"unknown dataset(s) {unknown}; choose from {', '.join(BY_NAME)} (or {COVARIATE_GROUP})"
        )
    return [BY_NAME[n] for n in dict.fromkeys(wanted)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        help=f"comma-separated subset of: {', '.join(BY_NAME)}; {COVARIATE_GROUP}: every covariate pair",
    )
    parser.add_argument("--quick", action="store_true", help="tiny tuning and training budget (smoke test)")
    parser.add_argument("--report", action="store_true", help="only re-render the report from the JSON")
    parser.add_argument("--plan", action="store_true", help="print each dataset's settings, run nothing")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="assignments",
        metavar="SECTION.KEY=VALUE",
        help="change a params.yaml default for this run (repeatable); needs --out",
    )
    parser.add_argument("--out", type=Path, help="folder for accuracy.json and ACCURACY.md (an experiment's)")
    args = parser.parse_args(argv)
    if args.assignments and args.out is None and not args.plan:
        raise SystemExit(
            "--set changes params.yaml's defaults, and bench/accuracy.json holds only the defaults' "
            "figures: give --out FOLDER for this experiment's results (e.g. --out bench/work/my-experiment)"
        )
    results_path, report_path = (QUICK_RESULTS, QUICK_REPORT) if args.quick else (RESULTS, REPORT)
    if args.out is not None:
        results_path, report_path = args.out / "accuracy.json", args.out / "ACCURACY.md"
    if args.report:
        if not results_path.exists():
            raise SystemExit(f"no results to render: {results_path} does not exist (run the suite first)")
        report_path.write_text(report(json.loads(results_path.read_text())))
        sys.stdout.write(f"wrote {report_path}\n")
        return
    chosen = _choose(args.datasets)
    plans = {}
    for dataset in chosen:  # every --set is checked before hours of runs start
        try:
            plans[dataset.name] = plan(dataset, args.quick, args.assignments)[1]
        except ConfigError as exc:
            raise SystemExit(f"{dataset.name}: {exc}") from None
    if args.plan:
        sys.stdout.write(_settings_table(list(plans.items())))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    for dataset in chosen:
        sys.stderr.write(f"accuracy: {dataset.name} ...\n")
        entry = run_one(dataset, args.quick, args.assignments)
        results = merge(results_path, dataset.name, entry)
        report_path.write_text(report(results))  # after every dataset: a long run shows progress
        outcome = entry.get("error", "").splitlines()[:1] or [
            f"model MASE {entry['scores'].get('model', {}).get('mase')}, best baseline "
            f"{entry['best_baseline']}, beats: {entry['model_beats_best_baseline']}"
        ]
        sys.stderr.write(f"accuracy: {dataset.name} done in {entry['wall_s']:.0f} s: {outcome[0]}\n")
    sys.stdout.write(f"wrote {results_path} and {report_path}\n")


if __name__ == "__main__":
    main()
