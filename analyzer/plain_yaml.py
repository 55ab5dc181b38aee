"""YAML from files made elsewhere (CI artifacts): plain data only, bounded in work, errors on one line.

`yaml.safe_load` builds no objects but still resolves aliases: an alias is the node its anchor named, shared
(PyYAML 6.0.2 lib/yaml/composer.py:63-70, `Composer.compose_node`). Nine nested levels of nine aliases each
take a few hundred bytes and expand to 9**9 leaves as soon as anything walks the document ("billion
laughs"). `load` refuses every anchor and alias where they are composed, refuses nesting past `max_depth`
there too (the composer recurses once per level), and constructs only the tags of plain data: a timestamp,
a binary or a set is an error, not a value. Our own writers emit neither anchors nor tags
(`analyzer.render.yaml_text`).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import Node
from yaml.reader import ReaderError

from analyzer.errors import DecodeError

__all__ = ["PLAIN_TAGS", "load"]

# The only tags a document may resolve to: what JSON can say.
PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")
)


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that composes no alias, no anchor and no node deeper than `max_depth`."""

    def __init__(self, text: str, max_depth: int) -> None:
        super().__init__(text)
        self.max_depth = max_depth
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """The base composer's node, refused (with its position) when it is an alias or has an anchor."""
        event = self.peek_event()  # type: ignore[no-untyped-call]  # the stubs leave it untyped
        if isinstance(event, AliasEvent) or event.anchor is not None:
            # an anchor alone is harmless, but nothing we write has one, and refusing it says so earlier
            raise ComposerError(None, None, "anchors and aliases (&, *) are not allowed", event.start_mark)
        if self.depth >= self.max_depth:
            raise ComposerError(None, None, f"nested deeper than {self.max_depth} levels", event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """The base constructor's value for the tags of plain data; any other tag, or a scalar its own
        constructor cannot read (``!!int 3.5``, an integer of 5,000 digits), is a ConstructorError."""
        name = node.tag.removeprefix("tag:yaml.org,2002:")
        if node.tag not in PLAIN_TAGS:
            raise ConstructorError(None, None, f"{name!r} values are not allowed", node.start_mark)
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError) as e:
            raise ConstructorError(None, None, f"cannot read this {name} ({e})", node.start_mark) from None


def load(text: str, source: str, *, max_depth: int) -> Any:
    """The plain data (dicts, lists, str, int, float, bool, None) of one YAML document; DecodeError naming
    `source`, the line and column, and the problem on one line."""
    try:
        return _load(text, max_depth)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = ", ".join(
            p for p in (e.context, e.problem) if p
        )  # "while parsing a flow sequence, expected ..."
        raise DecodeError(f"{source}: {where}{problem}") from None
    except ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - text.rfind("\n", 0, e.position)
        raise DecodeError(
            f"{source}: line {line}, column {column}: character #x{e.character:04x}: {e.reason}"
        ) from None


def _load(text: str, max_depth: int) -> Any:
    loader = _PlainLoader(text, max_depth)  # the reader checks every character here, before parsing
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
