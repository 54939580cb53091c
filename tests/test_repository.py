"""The README's set-up commands stay true: CI runs exactly the README's test command."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```bash\n")[1:]
    return [b.split("```")[0].strip() for b in blocks]


def test_readme_has_the_two_setup_commands() -> None:
    commands = readme_commands()
    assert any("seqcnn demo" in c for c in commands[:2])
    assert any("pytest" in c for c in commands[:2])


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(c for c in readme_commands() if "pytest" in c)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_tests_mirror_the_package_and_import_no_other_test() -> None:
    """Each test folder names a subpackage of seqcnn, and no test module imports another (shared
    helpers live in tests/conftest.py as fixtures)."""
    import ast

    tests = ROOT / "tests"
    packages = {p.name for p in (ROOT / "seqcnn").iterdir() if (p / "__init__.py").is_file()}
    for folder in (p for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py"))):
        assert folder.name in packages, f"tests/{folder.name}/ mirrors no seqcnn subpackage"
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0].startswith(("test_", "conftest")) for n in names), path
