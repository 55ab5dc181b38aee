"""analyzer: traces of Flyte executions -> one span table -> reductions -> renderers.

Importing this package loads nothing heavy: `load` loads its module, and with it pandas, numpy and the decoders,
on first use (PEP 562), so that `otel-fold --version` and `--help` start as fast as Python itself.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.load import load

# The distribution's version, as `otel-fold --version` prints it.
__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def __getattr__(name: str) -> Any:
    if name != "load":
        raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
    try:
        importlib.import_module("analyzer.load")  # binds `load` through _Package.__setattr__
    except ModuleNotFoundError as missing:
        # A light install (flyte-otel without its `analyzer` extra): the package still imports, so that the
        # CLI can say in one line what to install; `load` says it when called.
        if (missing.name or "").split(".")[0] in ("analyzer", "flyte_otel"):
            raise
        globals()["load"] = _unavailable(missing.name or "")
    return globals()["load"]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _unavailable(needed: str) -> Any:
    def load(*args: Any, **kwargs: Any) -> Any:
        """Unavailable: the analyzer's dependencies are not installed."""
        raise ModuleNotFoundError(
            f"the analyzer needs {needed}: pip install 'flyte-otel[analyzer]'", name=needed
        )

    return load


class _Package(ModuleType):
    """The package's module type: `analyzer.load` stays the function when the submodule of that name loads."""

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on its package (importlib._bootstrap._find_and_load_unlocked), which
        # would leave `analyzer.load` the module, not callable, once anything imported `analyzer.load.read`.
        if name == "load" and isinstance(value, ModuleType):
            value = value.load
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
