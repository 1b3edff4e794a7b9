"""The house's arrows hold: segue/ and daemon/ import no torch, the core imports no upper room, and the torch-free
test folders collect (and so can run) with torch blocked. `SEGUE_BLOCK_TORCH=1 python -m pytest tests/core
tests/engine tests/daemon` runs them that way in full (tests/conftest.py blocks it)."""
import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TORCH = "import sys; sys.modules['torch'] = None; "
UPPER_ROOMS = {"training", "export", "daemon", "bench", "tests"}


def imported_roots(path: Path) -> set[str]:
    """The top-level package of every import in a file, lazy ones inside functions included."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                roots.add(str(node.args[0].value).split(".")[0])
    return roots


@pytest.mark.parametrize("room, forbidden", [("segue", UPPER_ROOMS | {"torch"}),
                                             ("daemon", {"training", "export", "bench", "tests", "torch"})])
def test_the_torch_free_rooms_import_no_upper_room_and_no_torch(room, forbidden):
    offenders = {str(path.relative_to(ROOT)): sorted(imported_roots(path) & forbidden)
                 for path in sorted((ROOT / room).rglob("*.py")) if imported_roots(path) & forbidden}
    assert offenders == {}


def test_every_module_of_segue_and_daemon_imports_with_torch_blocked():
    code = BLOCK_TORCH + """
import importlib, pkgutil, segue, daemon
from segue.cli.main import build_parser
for package in (segue, daemon):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
build_parser()
import segue.cli, daemon.serve
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_torch_free_test_folders_collect_with_torch_blocked():
    code = BLOCK_TORCH + "import pytest; sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', " \
                         "'tests/core', 'tests/engine', 'tests/daemon']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_every_verb_module_is_registered_and_segue_lists_them_all():
    """pyproject.toml's segue.verbs entry points are what `segue --help` lists (in the installed metadata too)."""
    from importlib.metadata import entry_points

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["segue.verbs"]
    installed = {entry.name: entry.value for entry in entry_points(group="segue.verbs")}
    assert installed == declared, "the entry points changed: run `pip install -e .`"
    cli_modules = {f"segue.cli.{path.stem}" for path in (ROOT / "segue" / "cli").glob("*_cli.py")}
    assert cli_modules <= set(declared.values())
    help_text = subprocess.run([sys.executable, "-m", "segue", "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=60).stdout
    for verb in ("encode", "config", "data", "train", "export", "generate", "evaluate", "serve", "panic"):
        assert f"    {verb} " in help_text
