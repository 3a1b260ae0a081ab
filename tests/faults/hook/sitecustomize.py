"""Fault injection for tests/faults: SIGKILL a process at a named point.

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has
one; the fault tests put this folder first on PYTHONPATH. Without ``TSFORGE_FAULT_AT`` (or in
a process whose command line lacks ``TSFORGE_FAULT_IN``) it does nothing.

Environment:
    TSFORGE_FAULT_AT: ``replace:<file name>`` (killed just before ``os.replace`` moves a
        complete temporary file onto that name) or ``<module>:<attr.path>:<before|after>``
        (killed just before, or just after, that function runs).
    TSFORGE_FAULT_IN: A substring of the command line of the process to kill
        (such as ``pipelines/evaluate.py``).
    TSFORGE_FAULT_ARG: Only a call whose arguments' repr holds this substring kills (such as
        ``champion``, for the alias move of champion and not of challenger).
    TSFORGE_FAULT_LOG: A file that gets one line, ``<point> pid <pid>``, before the kill.
    TSFORGE_FAULT_GROUP: ``1``: kill the whole process group (the job, `dvc repro` included),
        as a crash or ``systemctl kill`` would; otherwise this process alone.
    TSFORGE_FAULT_PAUSE: A file: instead of killing, wait at the point until that file exists,
        then go on (the test does something to the world meanwhile, such as stopping a server).
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


def _reach(point: str) -> None:
    """At the point: log it, then pause (TSFORGE_FAULT_PAUSE) or kill."""
    log = os.environ.get("TSFORGE_FAULT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{point} pid {os.getpid()}\n")
            handle.flush()
            os.fsync(handle.fileno())
    pause = os.environ.get("TSFORGE_FAULT_PAUSE")
    if pause:
        while not os.path.exists(pause):
            time.sleep(0.1)
        return
    if os.environ.get("TSFORGE_FAULT_GROUP") == "1":
        os.killpg(os.getpgid(0), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _wrapped(function: Callable[..., Any], point: str, when: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def killing(*args: Any, **kwargs: Any) -> Any:
        if os.environ.get("TSFORGE_FAULT_ARG", "") not in repr((args, kwargs)):
            return function(*args, **kwargs)
        if when == "before":
            _reach(point)
        result = function(*args, **kwargs)
        _reach(point)
        return result

    return killing


def _patch(module: ModuleType, attr_path: str, point: str, when: str) -> None:
    *owners, name = attr_path.split(".")
    owner: Any = module
    for part in owners:
        owner = getattr(owner, part)
    setattr(owner, name, _wrapped(getattr(owner, name), point, when))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches ``attr_path`` of module ``target`` as soon as it is imported."""

    def __init__(self, target: str, attr_path: str, point: str, when: str) -> None:
        self.target, self.attr_path, self.point, self.when = target, attr_path, point, when

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if fullname != self.target:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _patch(module, self.attr_path, self.point, self.when)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _install(point: str) -> None:
    if point.startswith("replace:"):
        name = point.removeprefix("replace:")
        replace = os.replace

        def killing_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if os.path.basename(os.fspath(dst)) == name:
                _reach(point)
            replace(src, dst, *args, **kwargs)

        os.replace = killing_replace
        return
    module, attr_path, when = point.split(":")
    if module in sys.modules:
        _patch(sys.modules[module], attr_path, point, when)
    else:
        sys.meta_path.insert(0, _AfterImport(module, attr_path, point, when))


_POINT = os.environ.get("TSFORGE_FAULT_AT")
if _POINT and os.environ.get("TSFORGE_FAULT_IN", "") in " ".join(sys.argv):
    _install(_POINT)
