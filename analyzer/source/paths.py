"""URL paths built from text a user typed or a backend answered: trace ids checked as hex, every other segment
percent-encoded whole, and dot segments refused, so that no value can name another path on the server.

A trace id is 1 to 32 hex digits in either case, sent lowercased and left-padded with zeros to 32
(`analyzer.ids.normalize`), which both backends read as the id typed: Tempo pads a short id itself (grafana/tempo
v2.10.8 pkg/util/traceid.go:115-153) and Jaeger's trace routes parse ids with jaeger-idl's
model.TraceIDFromString (model/v1/ids.go:48; jaeger v2.20.0 apiv3/http_gateway.go:250-251). docs/deploy.md
gives the full citations.
"""

from __future__ import annotations

import urllib.parse

from analyzer import ids
from analyzer.errors import AnalyzerError

__all__ = ["TRACE_ID_DIGITS", "link_template", "path", "trace_id"]

TRACE_ID_DIGITS = 32  # a 128-bit trace id in hex
_DOT_SEGMENTS = frozenset({"", ".", ".."})  # a server or proxy may resolve them (RFC 3986 5.2.4)


def trace_id(raw: str) -> str:
    """`raw` as the 32 lowercase hex digits of a trace id; AnalyzerError unless it is 1 to 32 hex digits."""
    tid = ids.normalize(raw, TRACE_ID_DIGITS)
    if tid is None:
        raise AnalyzerError(f"bad trace id {raw[:40]!r}: expected 1 to {TRACE_ID_DIGITS} hex digits")
    return tid


def path(template: str, **segments: str) -> str:
    """`template` with each {name} replaced by its segment, percent-encoded whole ('/', '?', '#' included);
    AnalyzerError for an empty, '.' or '..' segment."""
    for name, value in segments.items():
        if value in _DOT_SEGMENTS:
            raise AnalyzerError(f"the {name} {value!r} cannot be a segment of a URL path")
    return template.format(**{k: urllib.parse.quote(v, safe="") for k, v in segments.items()})


def link_template(base_url: str, page: str) -> str:
    """A backend page's URL as a str.format template: `base_url` (without user, password, query or fragment:
    a printed link carries no credentials) and `page`, whose {trace_id} and {span_id} a caller fills in."""
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base.replace("{", "{{").replace("}", "}}") + page
