"""docs/params.md, generated: every key of params.yaml with its value, its comment and the DVC
stages that read it, so the reference can never drift from the file it documents.

    python -m tsforge.params_reference          # rewrites docs/params.md
    python -m tsforge.params_reference --check  # exit 1 when docs/params.md is stale

params.yaml stays the one place each rule is written (its comments); this only lays them out,
and tests/unit/test_params_reference.py fails when the two differ.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = Path("docs/params.md")

_KEY = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<value>[^#]*?)\s*(?:(?P<hash>#)\s?(?P<comment>.*))?$"
)
_COMMENT = re.compile(r"^(?P<indent> *)#\s?(?P<text>.*)$")


@dataclass
class Entry:
    """One key of params.yaml: its dotted path, written value (empty for a section) and comment."""

    path: str
    value: str
    comment: str
    comment_column: int | None

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]


def parse(text: str) -> list[Entry]:
    """The keys of params.yaml's text in order, each with its trailing comment and the comment
    lines continuing it (comment-only lines whose ``#`` sits in the same column)."""
    entries: list[Entry] = []
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        comment = _COMMENT.match(line)
        if comment:
            last = entries[-1] if entries else None
            if last is not None and last.comment_column == len(comment["indent"]):
                last.comment = f"{last.comment} {comment['text'].strip()}".strip()
            continue
        match = _KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([name for _, name in stack] + [match["key"]])
        stack.append((indent, match["key"]))
        column = line.index("#") if match["hash"] else None
        entries.append(Entry(path, match["value"].strip(), (match["comment"] or "").strip(), column))
    return entries


def readers(dvc: Mapping[str, object]) -> dict[str, list[str]]:
    """Stage -> the params it lists in dvc.yaml (sections or dotted keys)."""
    stages = dvc.get("stages", {})
    assert isinstance(stages, Mapping)
    listed: dict[str, list[str]] = {}
    for name, stage in stages.items():
        params = stage.get("params", []) if isinstance(stage, Mapping) else []
        listed[name] = [p for p in params if isinstance(p, str)]
    return listed


def stages_reading(path: str, listed: Mapping[str, Sequence[str]]) -> list[str]:
    """The stages whose params include ``path``, one of its parents or one of its children."""
    return [
        stage
        for stage, params in listed.items()
        if any(path == p or path.startswith(p + ".") or p.startswith(path + ".") for p in params)
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(params_text: str, dvc: Mapping[str, object]) -> str:
    """docs/params.md's text for the given params.yaml text and parsed dvc.yaml."""
    entries = parse(params_text)
    listed = readers(dvc)
    lines = [
        "# params.yaml, key by key",
        "",
        "[← README](../README.md) · [all docs](README.md)",
        "",
        "Generated from params.yaml's values and comments and dvc.yaml's `params` lists by",
        "`python -m tsforge.params_reference`; a unit test fails when it is stale, so edit",
        "params.yaml's comments, not this page. *Read by* lists the DVC stages whose params include",
        "the key: changing it reruns those stages (and the ones after them).",
    ]
    for entry in entries:
        if "." not in entry.path:
            lines += ["", f"## {entry.path}", ""]
            if entry.comment:
                lines += [_cell(entry.comment), ""]
            lines += ["| key | value | read by | what it does |", "|---|---|---|---|"]
            continue
        stages = ", ".join(stages_reading(entry.path, listed)) or "—"
        value = f"`{_cell(entry.value)}`" if entry.value else ""
        lines.append(f"| `{entry.path}` | {value} | {stages} | {_cell(entry.comment)} |")
    return "\n".join(lines) + "\n"


def current(root: Path = ROOT) -> str:
    """docs/params.md as the project's params.yaml and dvc.yaml make it now."""
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    return render((root / "params.yaml").read_text(), dvc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) docs/params.md from params.yaml.")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/params.md is stale")
    args = parser.parse_args(argv)
    target = ROOT / OUT
    text = current()
    if args.check:
        if not target.exists() or target.read_text() != text:
            sys.stderr.write(f"{OUT} is stale: run python -m tsforge.params_reference\n")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
