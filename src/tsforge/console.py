"""What a person sees on the console: a few lines per stage, one progress bar for the search,
and no third-party noise unless ``TSFORGE_VERBOSE=1`` (or ``tsforge -v``).

The library logs through :mod:`logging`; the stage scripts and the ``tsforge`` command talk to
people through :func:`say` and :class:`SearchProgress`. Quiet (the default), TensorFlow's C++
log, MLflow's INFO lines and download bars, and a few known harmless warnings are kept off, and
only WARNING and above of the library's logs show; errors and warnings that matter always do.
Verbose shows everything, with timestamps, as the libraries print it (keras-tuner's tables
included).

:func:`prepare` must run before TensorFlow is imported (:mod:`tsforge.stage` calls it as it is
imported, which every stage script does before anything that imports TensorFlow).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

VERBOSE_ENV = "TSFORGE_VERBOSE"
"""Set to 1 (or true, yes, on) for every third-party log line and keras-tuner's tables."""

QUIET_ENV = {
    # TensorFlow's C++ log: at 2 the "NodeDef mentions attribute use_unbounded_threadpool"
    # error of every fit still shows (level 3 keeps fatal errors only).
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # MLflow's INFO lines (creating the tracking database's tables...), read as it is imported.
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # MLflow's "Downloading artifacts" bars when a model is logged.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
"""Environment settings of a quiet console. A variable already set is left as it is."""

QUIET_WARNINGS = (
    # keras-tuner's hyperband resumes a trial from its checkpoint into a fresh optimizer.
    r"Skipping variable loading for optimizer",
    # train.input_example: false is a choice (params.yaml), not an oversight.
    r".*An input example was not provided when logging the model",
)
"""Python warnings (message patterns) that are known and harmless here: hidden when quiet."""

QUIET_LOG_MESSAGES = {
    # The forecaster is a Python model by design; MLflow says so at every log_model.
    "mlflow.pyfunc": r"Passing a Python object as `python_model`",
}
"""Logger -> message pattern of known third-party log lines hidden when quiet."""

NOISY_LOGGERS = ("absl", "tensorflow", "h5py", "great_expectations", "alembic", "matplotlib")
"""Third-party loggers kept at WARNING even when verbose (their INFO lines say nothing of use)."""

_ABSL_PREINIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# An absl/glog line below ERROR: I or W, MMDD hh:mm:ss.micros, thread, file:line]. Before absl
# is initialised its time reads "0000 00:00:<seconds since 1970>.micros".
_NATIVE_INFO = re.compile(r"^[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s:]+:\d+\] ")


@dataclass(frozen=True)
class Settings:
    """How talkative this process is.

    Attributes:
        verbose: Whether ``TSFORGE_VERBOSE`` asks for everything.
        env: Environment variables to set (those not set already).
        log_level: The root logger's level.
        log_format: The log lines' format.
    """

    verbose: bool
    env: dict[str, str] = field(default_factory=dict)
    log_level: int = logging.WARNING
    log_format: str = "%(levelname)s %(name)s: %(message)s"


def is_verbose(environ: Mapping[str, str]) -> bool:
    """Whether ``TSFORGE_VERBOSE`` is set to 1, true, yes or on."""
    return environ.get(VERBOSE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def settings(environ: Mapping[str, str]) -> Settings:
    """The console's settings for this environment.

    Quiet (``TSFORGE_VERBOSE`` unset or 0): :data:`QUIET_ENV` for the variables not set already,
    and only warnings and errors of the logs, without timestamps. Verbose: no environment
    change, and every INFO line with its time.
    """
    if is_verbose(environ):
        return Settings(True, {}, logging.INFO, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Settings(False, {k: v for k, v in QUIET_ENV.items() if k not in environ})


def is_native_noise(line: str) -> bool:
    """Whether ``line`` is TensorFlow's C++ log below ERROR, or absl's notice before it."""
    return line.startswith(_ABSL_PREINIT) or _NATIVE_INFO.match(line) is not None


def prepare(environ: MutableMapping[str, str] | None = None) -> Settings:
    """Set the environment up for this process's console, before TensorFlow is imported.

    Quiet, this sets :data:`QUIET_ENV` (variables not set already), hides the known harmless
    warnings and log lines, and makes the first import of TensorFlow drop the lines its C++
    libraries write as they load (absl's "All log messages before absl::InitializeLog()" and
    oneDNN's notice, twice: no setting reaches them, as they come before TF_CPP_MIN_LOG_LEVEL is
    read). Verbose, it changes nothing. Calling it again changes nothing more.

    Args:
        environ: The environment (default: this process's).

    Returns:
        The settings.
    """
    environ = os.environ if environ is None else environ
    chosen = settings(environ)
    if chosen.verbose:
        return chosen
    environ.update(chosen.env)
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name, pattern in QUIET_LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Hide) for f in logger.filters):
            logger.addFilter(_Hide(pattern))
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport("tensorflow"))
    return chosen


def configure_logging(chosen: Settings) -> None:
    """Route the logs to stderr at the settings' level and format (unless logging has a
    handler already). The level is the handler's too: a library that sets its own logger to
    INFO as it is imported (Great Expectations does) is held to it."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(chosen.log_format))
        handler.setLevel(chosen.log_level)
        root.addHandler(handler)
        root.setLevel(chosen.log_level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def say(*lines: str) -> None:
    """Tell the person at the console: each line on stdout, at once."""
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()


def paths(root: Path, *files: Path) -> str:
    """``files`` as a person finds them: relative to the project ``root`` when inside it."""
    return ", ".join(str(f.relative_to(root)) if f.is_relative_to(root) else str(f) for f in files)


class _Hide(logging.Filter):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.pattern.match(str(record.msg)) is None


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Run the block with the process's stderr (file descriptor 2, which C++ writes to) held
    in a temporary file, then pass on what was written there less :func:`is_native_noise`.

    Errors (E and F lines, Python's own output) are passed on, after the block. Where the
    descriptor cannot be redirected, the block runs as it is.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_native_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: the first import of ``name`` runs under
    :func:`native_stderr_filtered` (the finder then leaves ``sys.meta_path``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader; only its execution is wrapped.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with native_stderr_filtered():
            self.loader.exec_module(module)


class SearchProgress:
    """The search's progress bar: trials done of those planned, and the best objective so far.

    Feed it each ended trial (:meth:`trial_ended`, a keras-tuner ``Trial``); a failed trial is
    also said in a line of its own, with its error. Disabled, it shows nothing.

    Args:
        planned: Trials the search plans (None: unknown).
        done: Trials that ended before (a resumed search).
        best: The best objective so far (a resumed search), or None.
        objective: The objective's name.
        enabled: Whether to show anything.
    """

    def __init__(
        self,
        planned: int | None,
        *,
        done: int = 0,
        best: float | None = None,
        objective: str = "val_mae",
        enabled: bool = True,
    ) -> None:
        from tqdm import tqdm

        self.objective, self.best, self.enabled = objective, best, enabled
        self.bar = tqdm(
            total=planned,
            initial=done,
            desc="search",
            unit="trial",
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=True,
        )
        self._show_best()

    def trial_ended(self, trial: Any) -> None:
        """Count ``trial`` in; say it failed, or keep its score if it is the best so far.

        A trial keras-tuner will retry (status INVALID) is not counted until it ends for good.
        """
        if not self.enabled:
            return
        status, score = str(getattr(trial, "status", "")), getattr(trial, "score", None)
        if status == "INVALID":
            return
        if status == "FAILED":
            lines = [line for line in str(getattr(trial, "message", "") or "").splitlines() if line.strip()]
            error = lines[-1] if lines else "no error recorded"
            self.bar.write(f"trial {trial.trial_id} failed: {error}", file=sys.stderr)
        elif score is not None and math.isfinite(score) and (self.best is None or score < self.best):
            self.best = float(score)
            self._show_best()
        self.bar.update(1)

    def close(self) -> None:
        """End the bar's line."""
        self.bar.close()

    def __enter__(self) -> SearchProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _show_best(self) -> None:
        if self.best is not None:
            self.bar.set_postfix_str(f"best {self.objective} {self.best:.4g}", refresh=False)
