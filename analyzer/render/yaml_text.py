"""YAML as our files are written: block style, keys in their order, Unicode as is, and never an anchor or alias.

PyYAML's SafeDumper writes a mapping or list that appears twice in a document once, with an anchor, and the
second time as an alias (PyYAML 6.0.2 lib/yaml/representer.py:33-43, lib/yaml/serializer.py:60-63); the
report reader refuses aliases (`analyzer.plain_yaml`), so a writer that shared a dict would write a
file that its own reader rejects. This dumper writes a shared object out again each time it appears.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["dump_yaml"]


class _NoAliasDumper(yaml.SafeDumper):
    """SafeDumper that treats every object as seen for the first time."""

    def ignore_aliases(self, data: Any) -> bool:
        """Always: no object is written as an alias of an earlier one."""
        return True


def dump_yaml(document: Any, *, width: int = 80) -> str:
    """`document` as block-style YAML, keys in insertion order, lines folded at `width`, without aliases."""
    return yaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=width)
