"""The node each span belongs to: its own `node` attribute, else the nearest ancestor's.

Upstream FlytePropeller's gRPC event spans (CreateNodeEvent, CreateTaskEvent) carry no log fields, so no
`node`: they belong to a node only through the handleNode (or HandleTask) span that encloses them
(docs/upstream.md §0.3). `node` itself is already the `/`-joined path of spec ids (`n1/n0`: §2), so nested
nodes with the same local id stay apart.
"""

from __future__ import annotations

import numpy as np

from analyzer.execution import Execution
from analyzer.table import Coded
from flyte_otel import semconv as sc

__all__ = ["enclosing_nodes"]


def enclosing_nodes(ex: Execution) -> np.ndarray:
    """Per table row, the node the span belongs to (object array; None when neither it nor any ancestor
    names one). Filled level by level from the top: a trace is a few levels deep, so a few numpy passes."""
    nodes = Coded.factorize(ex.table.column(sc.NODE_ID))
    codes = nodes.codes
    by_depth = np.argsort(ex.depth, kind="stable")
    bounds = np.searchsorted(ex.depth[by_depth], np.arange(int(ex.depth.max(initial=0)) + 2))
    for d in range(1, len(bounds) - 1):
        rows = by_depth[bounds[d] : bounds[d + 1]]
        rows = rows[codes[rows] < 0]
        codes[rows] = codes[ex.parent_index[rows]]
    return Coded(codes, nodes.categories).values()
