"""Which of segue's extras installs a module, from the installed metadata (pyproject.toml's optional-dependencies),
so a missing one is said in one line wherever it is met: `segue train` on the base install, a piano roll without
matplotlib. Every extra here is a distribution imported under its own name (torch, music21, matplotlib, tqdm, onnx).
"""
from __future__ import annotations

import functools
import re
from importlib.metadata import PackageNotFoundError, requires


@functools.cache
def _extra_of_module() -> dict[str, str]:
    try:
        requirements = requires("segue") or []
    except PackageNotFoundError:           # run from a checkout that was never installed: nothing to name
        return {}
    extras = {}
    for requirement in requirements:
        found = re.match(r"\s*([A-Za-z0-9_.-]+).*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if found:
            extras.setdefault(found.group(1).lower().replace("-", "_"), found.group(2))
    return extras


def missing_extra(error: ModuleNotFoundError) -> tuple[str, str] | None:
    """(module, extra) when `error` is a module one of segue's extras installs, else None (a bug: keep it)."""
    module = (error.name or "").split(".")[0]
    extra = _extra_of_module().get(module.lower())
    return (module, extra) if extra else None


def install_line(what: str, module: str, extra: str) -> str:
    return f"{what} needs {module}, which segue's [{extra}] extra installs: pip install 'segue[{extra}]'"
