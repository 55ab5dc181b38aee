"""analyzer: traces of Flyte executions -> one span table -> reductions -> renderers."""

from __future__ import annotations

from typing import Any

# The distribution's version, as `otel-fold --version` prints it.
__version__ = "0.1.0"

__all__ = ["__version__", "load"]

try:
    from analyzer.load import load
except ModuleNotFoundError as _missing:
    # A light install (flyte-otel without its `analyzer` extra): the package still imports, so that the
    # CLI can say in one line what to install; `load` says it when called.
    if (_missing.name or "").split(".")[0] in ("analyzer", "flyte_otel"):
        raise
    _NEEDED = _missing.name

    def load(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        """Unavailable: the analyzer's dependencies are not installed."""
        raise ModuleNotFoundError(
            f"the analyzer needs {_NEEDED}: pip install 'flyte-otel[analyzer]'", name=_NEEDED
        )
