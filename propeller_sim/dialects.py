"""The trace dialects the simulator writes, by the name `otel-fold bench --dialect` takes.

A module of its own that imports nothing, so that the command line offers the names without loading the
simulator (numpy, OpenTelemetry). Each dialect's writer is `writers.WRITERS[name]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DIALECTS", "Dialect"]


@dataclass(frozen=True)
class Dialect:
    """How the traces look: flyte_otel's one trace per execution with lifecycle records, or upstream's."""

    one_trace: bool
    upstream_services: bool  # blobstore-client, k8s-client, admin-client as their own services


# The dialects by name.
DIALECTS: Mapping[str, Dialect] = {
    "flyte_otel": Dialect(one_trace=True, upstream_services=False),
    "upstream": Dialect(one_trace=False, upstream_services=True),
}
