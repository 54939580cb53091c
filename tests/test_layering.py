"""Imports point down (DESIGN.md): a module may import only modules of its own level or lower."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seqcnn"

# longest matching prefix wins; the package root (seqcnn/__init__.py, lazy public API) is exempt
LEVELS: dict[str, int] = {
    "seqcnn._version": 0,
    "seqcnn.errors": 0,
    "seqcnn.device": 0,
    "seqcnn.progress": 0,
    "seqcnn.io": 1,
    "seqcnn.seq": 2,
    "seqcnn.layers": 2,
    "seqcnn._common": 3,
    "seqcnn.models": 4,
    "seqcnn.modelfile": 5,
    "seqcnn.data": 5,
    "seqcnn.config": 5,
    "seqcnn.export": 5,
    "seqcnn.score": 6,
    "seqcnn.train": 6,
    "seqcnn.interpret": 6,
    "seqcnn.motifs": 7,
    "seqcnn.report": 7,
    "seqcnn.workflows": 8,
    "seqcnn.cli": 9,
}


def level_of(module: str) -> int:
    matches = [p for p in LEVELS if module == p or module.startswith(p + ".")]
    if not matches:
        raise KeyError(f"{module} has no level in tests/test_layering.py: give it one")
    return LEVELS[max(matches, key=len)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in names if n == "seqcnn" or n.startswith("seqcnn.")]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if module_name(p) != "seqcnn")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_imports_point_down(path: Path) -> None:
    own = level_of(module_name(path))
    for target in imported_modules(path):
        assert target != "seqcnn", f"{path}: import from the defining module, not the package root"
        assert level_of(target) <= own, f"{module_name(path)} (level {own}) imports {target} (upward)"


def test_nothing_imports_cli() -> None:
    for path in SOURCES:
        if module_name(path).startswith("seqcnn.cli"):
            continue
        assert not any(t.startswith("seqcnn.cli") for t in imported_modules(path)), path


def test_no_relative_imports() -> None:
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), path
