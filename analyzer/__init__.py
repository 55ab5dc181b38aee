"""analyzer: traces of Flyte executions -> one span table -> reductions -> renderers."""

__version__ = "0.1.0"
