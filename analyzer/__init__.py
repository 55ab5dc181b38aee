"""analyzer: traces of Flyte executions -> one span table -> reductions -> renderers.

Importing this package loads nothing heavy: each public name loads its module, and with it numpy and the
decoders, on first use (PEP 562), so that `otel-fold --version` and `--help` start as fast as Python itself;
pandas loads when a function that returns pandas objects is called. `load` reads spans into a SpanTable;
`frame`, `self_time`, `critical_path`, `segments` and `report` are the notebook's (docs/notebook.md).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.load import load
    from analyzer.notebook import critical_path, frame, report, segments, self_time

# The distribution's version, as `otel-fold --version` prints it.
__version__ = "0.1.0"

__all__ = ["__version__", "critical_path", "frame", "load", "report", "segments", "self_time"]

# The module that defines each public function, imported on the name's first use.
_HOMES = {
    "load": "analyzer.load",
    **dict.fromkeys(("critical_path", "frame", "report", "segments", "self_time"), "analyzer.notebook"),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(home), name)
    except ModuleNotFoundError as missing:
        # A light install (flyte-otel without its `analyzer` extra): the package still imports, so that the
        # CLI can say in one line what to install; each function says it when called.
        if (missing.name or "").split(".")[0] in ("analyzer", "flyte_otel"):
            raise
        value = _unavailable(name, missing.name or "")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _unavailable(name: str, needed: str) -> Any:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        """Unavailable: the analyzer's dependencies are not installed."""
        raise ModuleNotFoundError(
            f"the analyzer needs {needed}: pip install 'flyte-otel[analyzer]'", name=needed
        )

    unavailable.__name__ = unavailable.__qualname__ = name
    return unavailable


class _Package(ModuleType):
    """The package's module type: `analyzer.load` stays the function when the submodule of that name loads."""

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on its package (importlib._bootstrap._find_and_load_unlocked), which
        # would leave `analyzer.load` the module, not callable, once anything imported `analyzer.load.read`.
        if name == "load" and isinstance(value, ModuleType):
            value = value.load
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
