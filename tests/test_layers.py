"""The tree is the architecture: imports point down the layers, and the core does no I/O.

::

    cli -> workflows -> probe -> qemu -> host -> core -> errors

A module may import its own layer and any layer below it, never one above; ``core``
imports no module that does I/O and calls no ``open``. Read with ``ast``, so the test sees
imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "guestclock"
ORDER = ("errors", "core", "host", "qemu", "probe", "workflows", "cli")
#: modules that read or write the world: files, processes, sockets, clocks, the environment
IO_MODULES = frozenset(
    {
        "os",
        "subprocess",
        "socket",
        "asyncio",
        "zoneinfo",
        "shutil",
        "tempfile",
        "time",
        "signal",
        "qemu",
        "multiprocessing",
        "glob",
        "pathlib",
        "io",
        "ctypes",
        "select",
        "tzdata",
        "importlib",
    }
)
MODULES = sorted(PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str | None:
    """The layer of a module file (None: the package's face, ``__init__``/``__main__``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    name = parts[0]
    return name if name in ORDER else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports (from guestclock.X import ...)"
            found.append((node.lineno, node.module or ""))
    return found


def test_the_package_has_every_layer() -> None:
    assert {_layer(path) for path in MODULES} >= set(ORDER)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_point_down(path: Path) -> None:
    layer = _layer(path)
    if layer is None:
        return
    allowed = set(ORDER[: ORDER.index(layer) + 1])
    for line, module in _imports(path):
        parts = module.split(".")
        if parts[0] != "guestclock" or len(parts) < 2:
            continue
        target = parts[1]
        if target == "__version__" or module == "guestclock":
            continue
        assert target in allowed, f"{path.relative_to(PACKAGE)}:{line}: {layer} imports {module} (a layer above)"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _layer(p) in ("core", "errors")],
    ids=[str(p.relative_to(PACKAGE)) for p in MODULES if _layer(p) in ("core", "errors")],
)
def test_core_is_pure(path: Path) -> None:
    for line, module in _imports(path):
        assert module.split(".")[0] not in IO_MODULES, f"{path.relative_to(PACKAGE)}:{line}: imports {module}"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("open", "print", "input"), f"{path.relative_to(PACKAGE)}:{node.lineno}"


def test_public_face_is_importable_and_listed() -> None:
    import guestclock

    assert list(guestclock._EXPORTS) == guestclock.__all__
    assert dir(guestclock) == sorted(guestclock.__all__)
    for name in guestclock.__all__:
        assert getattr(guestclock, name) is not None
