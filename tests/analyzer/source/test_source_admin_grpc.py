"""`--admin-config`: FlyteAdmin over flytekit's own gRPC client, logged in as pyflyte logs in.

A loopback gRPC FlyteAdmin (flyteidl's generated servicers: AdminService's three calls and AuthMetadataService)
refuses calls without a bearer token; a loopback OAuth2 token endpoint issues one for the client-credentials
grant. flytekit's auth interceptor must discover the endpoint through AuthMetadataService, fetch the token and
retry: nothing of that is ours, which is the point. The flows that need a browser (PKCE) or a person (device
code) are flytekit's too and are not exercised here.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import execution_pb2, node_execution_pb2, task_execution_pb2
from flyteidl.core import metrics_pb2
from flyteidl.service import admin_pb2_grpc, auth_pb2, auth_pb2_grpc
from google.protobuf.json_format import ParseDict
from source_loopback import FakeAdmin, Loopback, Reply, json_bytes, otlp_proto, round_traces
from test_source_flyteadmin import EXEC, TREE

from analyzer.cli import main
from analyzer.errors import AnalyzerError
from analyzer.results import timeline as TL
from analyzer.source.config import RemoteConfig
from analyzer.source.flyteadmin import FlyteAdmin

TOKEN = "tok-from-the-idp"
CLIENT, SECRET = "otel-fold", "s3cret"


class _Admin(admin_pb2_grpc.AdminServiceServicer, auth_pb2_grpc.AuthMetadataServiceServicer):
    """FlyteAdmin's gRPC face over FakeAdmin's data, with auth required on AdminService."""

    def __init__(self, token_url: str) -> None:
        self.fake = FakeAdmin(EXEC, TREE)
        self.token_url = token_url
        self.metadata: list[dict[str, str]] = []

    def _authorized(self, context: grpc.ServicerContext) -> None:
        md = dict(context.invocation_metadata())
        self.metadata.append(md)
        if md.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "token required")

    def GetExecutionMetrics(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._authorized(context)
        if request.id.name != EXEC["name"]:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"missing entity of type execution with id {request.id.name}"
            )
        return execution_pb2.WorkflowExecutionGetMetricsResponse(span=ParseDict(TREE, metrics_pb2.Span()))

    def ListNodeExecutions(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._authorized(context)
        items = self.fake.children.get(request.unique_parent_id or None, [])
        return ParseDict({"node_executions": items}, node_execution_pb2.NodeExecutionList())

    def ListTaskExecutions(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self._authorized(context)
        attempts = self.fake.attempts.get(request.node_execution_id.node_id, [])
        items = [{"id": {"retry_attempt": a}, "closure": {"phase": "SUCCEEDED" if a == max(attempts) else "FAILED"}}
                 for a in attempts]  # fmt: skip
        return ParseDict({"task_executions": items}, task_execution_pb2.TaskExecutionList())

    def GetOAuth2Metadata(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return auth_pb2.OAuth2MetadataResponse(
            issuer=self.token_url, token_endpoint=self.token_url, grant_types_supported=["client_credentials"]
        )

    def GetPublicClientConfig(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return auth_pb2.PublicClientAuthConfigResponse(
            client_id="flytectl", scopes=["all"], authorization_metadata_key="authorization"
        )


@pytest.fixture
def admin(server: Loopback) -> Iterator[_Admin]:
    """The gRPC FlyteAdmin on 127.0.0.1, with `server` as its OAuth2 token endpoint."""

    def token(req: Any) -> Reply:
        form = dict(urllib.parse.parse_qsl(req.body.decode()))
        basic = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
        if form.get("grant_type") != "client_credentials" or req.headers.get("authorization") != basic:
            return Reply(401, json_bytes({"error": "invalid_client"}))
        return Reply(body=json_bytes({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}))

    server.on("/oauth2/token", token)
    servicer = _Admin(server.url + "/oauth2/token")
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, grpc_server)
    auth_pb2_grpc.add_AuthMetadataServiceServicer_to_server(servicer, grpc_server)
    servicer.port = grpc_server.add_insecure_port("127.0.0.1:0")  # type: ignore[attr-defined]
    grpc_server.start()
    try:
        yield servicer
    finally:
        grpc_server.stop(None)


def _flyte_config(tmp_path: Path, port: int, secret: str = SECRET) -> Path:
    """A Flyte config as flytectl/pyflyte read it (client credentials, the secret in a file)."""
    (tmp_path / "secret").write_text(secret)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"admin:\n  endpoint: dns:///127.0.0.1:{port}\n  insecure: true\n  authType: ClientSecret\n"
        f"  clientId: {CLIENT}\n  clientSecretLocation: {tmp_path / 'secret'}\n"
    )
    return cfg


def test_flytekit_logs_in_with_client_credentials_and_reads_all_three_calls(
    admin: _Admin, server: Loopback, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "upstream.binpb.raw"
    trace.write_bytes(otlp_proto([s for t in round_traces({EXEC["name"]: 2}).values() for s in t]))
    cfg = _flyte_config(tmp_path, admin.port)  # type: ignore[attr-defined]
    argv = ["report", EXEC["name"], "--json", "--file", str(trace), "--admin-config", str(cfg),
            "--project", EXEC["project"], "--domain", EXEC["domain"]]  # fmt: skip
    assert main(argv) == 0
    body = json.loads(capsys.readouterr().out)[EXEC["name"]]
    assert body["segments"] == {TL.WORKFLOW_SETUP: 5 * 10**9, TL.WORKFLOW_TEARDOWN: 10 * 10**9}  # TREE's
    assert [r.path for r in server.requests] == ["/oauth2/token"]  # one token, then reused
    refused, *authorized = admin.metadata
    assert "authorization" not in refused  # the first call went without, was refused, and was retried
    assert authorized and all(md["authorization"] == f"Bearer {TOKEN}" for md in authorized)
    assert len(authorized) == 4  # metrics, the top-level nodes, n1's children, n0's attempts (retried)


def test_a_wrong_secret_is_one_line_naming_flyteadmin(
    admin: _Admin, server: Loopback, tmp_path: Path
) -> None:
    cfg = _flyte_config(tmp_path, admin.port, secret="wrong")  # type: ignore[attr-defined]
    with pytest.raises(AnalyzerError) as e:
        FlyteAdmin(RemoteConfig(admin_config=str(cfg), retries=0)).execution("/".join(EXEC.values()))
    assert (
        "FlyteAdmin at 127.0.0.1" in str(e.value) and "\n" not in str(e.value) and SECRET not in str(e.value)
    )
