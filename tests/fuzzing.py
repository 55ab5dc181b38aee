"""What the seeded fuzz tests share: the places of a parsed document where a value can be swapped for another."""

from __future__ import annotations

from typing import Any


def value_places(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) of every value of `doc` (dicts and lists, depth first)."""
    out: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            walk(value)

    walk(doc)
    return out
