"""Report files made to hurt a reader, shared by the diff input tests and the diff fuzz."""

from __future__ import annotations


def laughs(levels: int = 9) -> str:
    """ "Billion laughs": under entry ``x``, `levels` mappings of nine aliases of the one before, 9**levels
    leaves once expanded (9 levels: under 700 bytes)."""
    lines = ["x:", "  a0: &a0 {p50: 1s, p90: 1s, p99: 1s, max: 1s, total: 1s, count: 1, b: 1s, c: 1s, d: 1s}"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}")
    return "\n".join(lines) + "\n"
