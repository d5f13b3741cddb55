"""The architecture's arrows, checked: which package may import which (docs/architecture.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("core", "storage", "catalog", "bot", "evaluation")
ALLOWED = {
    "core": set(),
    "storage": set(),
    "evaluation": {"core"},
    "catalog": {"core", "storage"},
    "bot": {"core", "storage", "catalog", "evaluation"},
    "bench": {"core", "storage", "catalog", "bot", "evaluation"},
}


def imported_modules(path: Path) -> set[str]:
    """The top-level modules a module imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names}
    return found


def imported_packages(path: Path) -> set[str]:
    """The product packages a module imports."""
    return imported_modules(path) & set(PRODUCT)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported - ALLOWED[package] - {package})
        for path in sorted((ROOT / package).rglob("*.py"))
        if (imported := imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert not wrong, f"{package}/ imports what it must not: {wrong}"


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from storage import Database\n    import bot.cli.main\n")
    assert imported_packages(module) == {"storage", "bot"}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        *((package, "telegram") for package in PRODUCT if package != "bot"),
        ("catalog", "argparse"),  # the use cases know no command line
    ],
)
def test_outside_libraries_stay_in_their_layer(package: str, forbidden: str) -> None:
    wrong = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / package).rglob("*.py"))
        if forbidden in imported_modules(path)
    ]
    assert not wrong, f"{package}/ imports {forbidden}: {wrong}"
