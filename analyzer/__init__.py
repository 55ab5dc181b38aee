"""analyzer: traces of Flyte executions -> one span table -> reductions -> renderers."""

# The distribution's version, as `otel-fold --version` prints it.
__version__ = "0.1.0"

from analyzer.load import load  # noqa: E402  (after __version__: the CLI imports it from here)

__all__ = ["__version__", "load"]
