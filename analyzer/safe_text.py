"""Text from traces, made safe to print: a trace author must not be able to drive the reader's terminal.

Span names, node ids and attribute values are written by whoever emitted the spans. An ESC starts a terminal
control sequence (colours, the window title, clearing the screen), CR and BS overwrite what is shown, a newline
forges a fold line. `printable` shows every C0 and C1 control character (and DEL) escaped as `\\xNN`; `xml_text`
drops what XML 1.0 cannot hold at all, so that an SVG or HTML file stays well-formed.
"""

from __future__ import annotations

import re

__all__ = ["printable", "xml_text"]

# C0 controls, DEL and C1 controls: what a terminal acts on rather than draws
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Not XML 1.0 Chars (https://www.w3.org/TR/xml/#charsets): C0 but tab/LF/CR, surrogates, U+FFFE, U+FFFF
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """`text` with every control character shown as \\xNN (so one value stays on one line, inert)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if _CONTROL.search(text) else text


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (each replaced by U+FFFD)."""
    return _NOT_XML.sub("\ufffd", text)
