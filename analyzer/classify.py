"""Span classification: a rules table, read top to bottom, first match wins (DESIGN.md's categories)."""

from __future__ import annotations

import re
from typing import NamedTuple

from flyte_otel import semconv as sc

__all__ = ["RULES", "Rule", "category"]

C = sc.Category


class Rule(NamedTuple):
    """One row of RULES: the category of a span whose name, service and event kind match (None: any)."""

    category: str
    name: str | None = None  # regex on the span name (full match)
    service: str | None = None  # regex on service.name (full match)
    event_kind: str | None = None  # value of flyte.event.kind


def _lit(*names: str) -> str:
    # Grouped, so that a suffix such as ".*" applies to every alternative.
    return "(?:" + "|".join(re.escape(n) for n in names) + ")"


# The rules, scanned in order: the first that matches a span gives its category.
RULES: tuple[Rule, ...] = (
    Rule(C.ROUND, name=_lit(sc.ROUND)),
    Rule(C.STREAK, name=_lit(sc.STREAK)),
    Rule(C.ETCD_READ, name=_lit(sc.WORKFLOW_STORE_GET)),
    Rule(C.ETCD_WRITE, name=re.escape(sc.WORKFLOW_STORE_UPDATE) + r".*"),
    Rule(C.EVENT_WORKFLOW, name=_lit(sc.CREATE_WORKFLOW_EVENT)),
    Rule(C.EVENT_NODE, name=_lit(sc.CREATE_NODE_EVENT)),
    Rule(C.EVENT_TASK, name=_lit(sc.CREATE_TASK_EVENT)),
    Rule(C.EVENT_WORKFLOW, event_kind=sc.EventKind.WORKFLOW),
    Rule(C.EVENT_NODE, event_kind=sc.EventKind.NODE),
    Rule(C.EVENT_TASK, event_kind=sc.EventKind.TASK),
    Rule(C.BLOBSTORE_READ, name=_lit(sc.READ_PROTOBUF, sc.READ_RAW, sc.HEAD_RAW)),
    Rule(C.BLOBSTORE_WRITE, name=_lit(sc.WRITE_PROTOBUF, sc.WRITE_RAW)),
    Rule(C.CACHE_LOOKUP, name=_lit(sc.CHECK_CATALOG_CACHE)),
    Rule(C.CACHE_WRITE, name=_lit(sc.WRITE_CATALOG_CACHE)),
    Rule(C.NODE_HANDLE, name=_lit(sc.HANDLE_NODE)),
    Rule(C.TASK_HANDLE, name=_lit(sc.HANDLE_TASK)),
    Rule(C.K8S, name=_lit(sc.K8S_CACHE_PREFIX, sc.K8S_CLIENT_PREFIX) + r".*"),
    Rule(C.K8S, service=_lit(sc.SERVICE_K8S)),
    Rule(C.USER, name=_lit(sc.USER_CODE, sc.POD_USER_CODE)),
    Rule(C.POD_TASK, name=_lit(sc.POD_TASK)),
    Rule(C.POD_DOWNLOAD, name=_lit(sc.POD_DOWNLOAD)),
    Rule(C.POD_UPLOAD, name=_lit(sc.POD_UPLOAD)),
    Rule(C.POD_FLYTEKIT, name=_lit(sc.POD_LOAD_TASK, sc.POD_TO_PYTHON, sc.POD_TO_LITERAL, sc.POD_DECK)),
    Rule(C.LIFECYCLE, name=_lit(sc.EXECUTION, sc.NODE, sc.ATTEMPT, sc.IDLE)),
    Rule(C.ADMIN, name=_lit(sc.ADMIN_SERVICE_PREFIX, sc.DATACATALOG_PREFIX, sc.GORM_PREFIX) + r".*"),
    Rule(
        C.ADMIN,
        service=_lit(
            sc.SERVICE_ADMIN_CLIENT,
            sc.SERVICE_DATACATALOG_CLIENT,
            sc.SERVICE_ADMIN_SERVER,
            sc.SERVICE_ADMIN_GORM,
            sc.SERVICE_DATACATALOG_SERVER,
            sc.SERVICE_DATACATALOG_GORM,
        ),
    ),
    Rule(C.BLOBSTORE_READ, service=_lit(sc.SERVICE_BLOBSTORE), name=r"(?i).*(read|get|head).*"),
    Rule(C.BLOBSTORE_WRITE, service=_lit(sc.SERVICE_BLOBSTORE)),
)


_COMPILED = [
    (
        r.category,
        re.compile(r.name) if r.name else None,
        re.compile(r.service) if r.service else None,
        r.event_kind,
    )
    for r in RULES
]


def category(name: str, service: str, event_kind: str = "") -> str:
    """The category of a span with this name, service and flyte.event.kind ("" where absent): the first rule
    of RULES that matches, else "other"."""
    for cat, name_re, service_re, ek in _COMPILED:
        if name_re is not None and not name_re.fullmatch(name):
            continue
        if service_re is not None and not service_re.fullmatch(service):
            continue
        if ek is not None and ek != event_kind:
            continue
        return cat
    return C.OTHER
