"""FlyteAdmin, the source of node segments and phases for upstream traces (which carry no lifecycle records).

It reads three of FlyteAdmin's answers (flyteorg/flyte v1.16.8 flyteidl/protos/flyteidl/service/admin.proto):
GetExecutionMetrics (:660-662, the core.Span tree of segments), ListNodeExecutions (:345-347, each node's spec
id, phase and children, listed level by level with `unique_parent_id`) and, for retried nodes only,
ListTaskExecutions (:471-473, each attempt's phase). Two ways in:

* `--admin-config FILE` (or `auto`: flytekit's own search, FLYTECTL_CONFIG then ~/.flyte/config.yaml): flytekit's
  gRPC client with the user's Flyte config and whatever auth flow it sets up (PKCE, client credentials, device
  flow, an external command), exactly as pyflyte and FlyteRemote log in. Needs flytekit.
* `--admin-url URL`: the REST gateway, with a FlyteAdmin token of its own (OTEL_FOLD_ADMIN_TOKEN or
  --admin-token-file) and its own CA file.

Neither is ever given the trace backend's credentials or tenant, nor the backend FlyteAdmin's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from analyzer.decode.flyteadmin import (
    AdminExecution,
    AdminNode,
    decode_node_executions,
    decode_task_executions,
    timeline_from_span,
)
from analyzer.errors import AnalyzerError, DecodeError, NotFound
from analyzer.source import paths
from analyzer.source.config import RemoteConfig
from analyzer.source.http import HttpClient

__all__ = ["METRICS_PATH", "NODES_PATH", "PAGE", "TASKS_PATH", "FlyteAdmin"]

# The REST gateway's routes of the three calls (admin.proto, lines above).
METRICS_PATH = "/api/v1/metrics/executions/{project}/{domain}/{name}"
NODES_PATH = "/api/v1/node_executions/{project}/{domain}/{name}"
TASKS_PATH = "/api/v1/task_executions/{project}/{domain}/{name}/{node}"
PAGE = 100  # node / task executions asked per page; a page that comes back full is followed by the next


@dataclass(frozen=True)
class _Execution:
    project: str
    domain: str
    name: str


class _Transport(Protocol):
    where: str  # for messages

    def metrics(self, ex: _Execution, depth: int) -> bytes: ...
    def nodes(self, ex: _Execution, parent: str | None, token: str) -> bytes: ...
    def tasks(self, ex: _Execution, node: str, token: str) -> bytes: ...


class _Gateway:
    """FlyteAdmin's REST gateway (JSON), with the admin token and CA file only."""

    def __init__(self, config: RemoteConfig, client: HttpClient | None) -> None:
        assert config.admin_url is not None
        self.client = client or HttpClient(config.admin_url, config.admin_http())
        self.where = self.client.base_url

    def _get(self, path: str, query: Mapping[str, Any], what: str) -> bytes:
        resp = self.client.get(path, query, expect=(200, 404))
        if resp.status == 404:
            raise NotFound(f"FlyteAdmin at {self.where} has no {what}")
        return resp.body

    def metrics(self, ex: _Execution, depth: int) -> bytes:
        path = paths.path(METRICS_PATH, project=ex.project, domain=ex.domain, name=ex.name)
        return self._get(path, {"depth": depth}, f"execution {ex.project}/{ex.domain}/{ex.name}")

    def nodes(self, ex: _Execution, parent: str | None, token: str) -> bytes:
        path = paths.path(NODES_PATH, project=ex.project, domain=ex.domain, name=ex.name)
        query = {"limit": PAGE, **({"token": token} if token else {})}
        return self._get(
            path, {**query, **({"unique_parent_id": parent} if parent else {})}, "node executions"
        )

    def tasks(self, ex: _Execution, node: str, token: str) -> bytes:
        path = paths.path(TASKS_PATH, project=ex.project, domain=ex.domain, name=ex.name, node=node)
        return self._get(
            path, {"limit": PAGE, **({"token": token} if token else {})}, f"task executions of {node}"
        )


class _Flytekit:
    """flytekit's raw gRPC client on the user's Flyte config: its channel carries flytekit's auth interceptor."""

    def __init__(self, config_file: str) -> None:
        try:
            from flyteidl.admin import execution_pb2, node_execution_pb2, task_execution_pb2
            from flyteidl.core import identifier_pb2
            from flytekit.clients.raw import RawSynchronousFlyteClient
            from flytekit.configuration import Config
            from google.protobuf.json_format import MessageToJson
        except ImportError:
            raise AnalyzerError(
                "--admin-config needs flytekit (pip install 'flyte-otel[portfolio]'); without it use --admin-url "
                "with a FlyteAdmin token (OTEL_FOLD_ADMIN_TOKEN or --admin-token-file)"
            ) from None
        try:
            platform = Config.auto(None if config_file == "auto" else config_file).platform
            self.client = RawSynchronousFlyteClient(platform)
        except Exception as e:  # flytekit's own config errors, one line
            raise AnalyzerError(f"cannot use the Flyte config {config_file}: {_one_line(e)}") from None
        self.where = platform.endpoint
        self._execution, self._node_execution = execution_pb2, node_execution_pb2
        self._task_execution, self._identifier = task_execution_pb2, identifier_pb2
        self._json: Callable[[Any], str] = lambda m: MessageToJson(m, preserving_proto_field_name=True)

    def _call(self, fn: Callable[[Any], Any], request: Any, what: str) -> bytes:
        try:
            return self._json(fn(request)).encode()
        except Exception as e:  # grpc.RpcError, or flytekit's wrapped exceptions
            text = _one_line(e)
            if "NOT_FOUND" in text or "NotExist" in type(e).__name__:
                raise NotFound(f"FlyteAdmin at {self.where} has no {what}") from None
            raise AnalyzerError(f"FlyteAdmin at {self.where}: {what}: {text}") from None

    def _wf(self, ex: _Execution) -> Any:
        return self._identifier.WorkflowExecutionIdentifier(
            project=ex.project, domain=ex.domain, name=ex.name
        )

    def metrics(self, ex: _Execution, depth: int) -> bytes:
        req = self._execution.WorkflowExecutionGetMetricsRequest(id=self._wf(ex), depth=depth)
        return self._call(
            self.client.get_execution_metrics, req, f"execution {ex.project}/{ex.domain}/{ex.name}"
        )

    def nodes(self, ex: _Execution, parent: str | None, token: str) -> bytes:
        req = self._node_execution.NodeExecutionListRequest(
            workflow_execution_id=self._wf(ex), limit=PAGE, token=token, unique_parent_id=parent or ""
        )
        return self._call(self.client.list_node_executions_paginated, req, "node executions")

    def tasks(self, ex: _Execution, node: str, token: str) -> bytes:
        node_id = self._identifier.NodeExecutionIdentifier(node_id=node, execution_id=self._wf(ex))
        req = self._task_execution.TaskExecutionListRequest(
            node_execution_id=node_id, limit=PAGE, token=token
        )
        return self._call(self.client.list_task_executions_paginated, req, f"task executions of {node}")


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:300]


class FlyteAdmin:
    """FlyteAdmin's view of one execution, as a node timeline keyed like the trace's nodes."""

    name = "FlyteAdmin"

    def __init__(self, config: RemoteConfig, *, client: HttpClient | None = None) -> None:
        self.config = config
        transport: _Transport
        if config.admin_config:
            transport = _Flytekit(config.admin_config)
        elif config.admin_url:
            transport = _Gateway(config, client)
        else:
            raise AnalyzerError(
                "FlyteAdmin needs --admin-config FILE (your Flyte config, with flytekit) or --admin-url URL "
                "(the REST gateway, e.g. https://flyte.example.com)"
            )
        self._t = transport

    def execution(self, exec_id: str) -> AdminExecution:
        """The execution's metrics tree, node executions and retried attempts' phases ("project/domain/name",
        or a name with --project/--domain)."""
        ex = self._execution(exec_id)
        where = f"FlyteAdmin at {self._t.where}"
        metrics = self._t.metrics(ex, self.config.admin_depth)
        try:
            tree = timeline_from_span(json.loads(metrics)["span"])
        except (ValueError, TypeError, KeyError) as e:
            raise DecodeError(
                f"{where}: not a WorkflowExecutionGetMetricsResponse ({type(e).__name__}: {e})"
            ) from None
        nodes = self._nodes(ex, where)
        retried = [uid for uid, n in tree.nodes.items() if len(n.attempts) > 1]
        return AdminExecution(tree, nodes, {uid: self._attempt_phases(ex, uid, where) for uid in retried})

    def _nodes(self, ex: _Execution, where: str) -> dict[str, AdminNode]:
        """Every node execution, level by level: the top level, then the children of each parent node."""
        out: dict[str, AdminNode] = {}
        parents: list[str | None] = [None]
        while parents:
            parent = parents.pop(0)
            for n in self._pages(partial(self._node_page, ex, parent, where)):
                if n.unique_id not in out:  # a cycle in a broken answer must not loop
                    out[n.unique_id] = n
                    parents += [n.unique_id] if n.is_parent else []
        return out

    def _node_page(
        self, ex: _Execution, parent: str | None, where: str, token: str
    ) -> tuple[list[AdminNode], str]:
        return decode_node_executions(self._t.nodes(ex, parent, token), where, parent)

    def _attempt_phases(self, ex: _Execution, uid: str, where: str) -> dict[int, str]:
        return dict(self._pages(partial(self._task_page, ex, uid, where)))

    def _task_page(
        self, ex: _Execution, uid: str, where: str, token: str
    ) -> tuple[list[tuple[int, str]], str]:
        phases, next_token = decode_task_executions(self._t.tasks(ex, uid, token), where)
        return list(phases.items()), next_token

    @staticmethod
    def _pages(fetch: Callable[[str], tuple[list[Any], str]]) -> list[Any]:
        items, token, seen = [], "", set()
        while True:
            page, token = fetch(token)
            items += page
            if not token or len(page) < PAGE or token in seen:
                return items
            seen.add(token)

    def _execution(self, exec_id: str) -> _Execution:
        parts = exec_id.split("/")
        if len(parts) == 3 and all(parts):
            return _Execution(*parts)
        if self.config.project and self.config.domain:
            return _Execution(self.config.project, self.config.domain, exec_id)
        raise AnalyzerError(
            f"FlyteAdmin needs the execution's project and domain: pass project/domain/{exec_id} "
            f"or --project and --domain (OTEL_FOLD_PROJECT, OTEL_FOLD_DOMAIN)"
        )
