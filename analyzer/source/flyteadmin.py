"""FlyteAdmin's execution metrics over REST: node segments for upstream-dialect traces, which carry no lifecycle records.

The answer is decoded by `analyzer.decode.flyteadmin`; `analyzer.reduce.admin_segments` puts its segments onto
the nodes the trace shows.
"""

from __future__ import annotations

from analyzer.decode.flyteadmin import decode_metrics
from analyzer.errors import AnalyzerError, NotFound
from analyzer.results import timeline as TL
from analyzer.source.config import RemoteConfig
from analyzer.source.http import HttpClient

__all__ = ["METRICS_PATH", "FlyteAdminMetrics"]

# FlyteAdmin's GetExecutionMetrics REST route.
METRICS_PATH = "/api/v1/metrics/executions/{project}/{domain}/{name}"


class FlyteAdminMetrics:
    """Client of FlyteAdmin's GetExecutionMetrics REST endpoint."""

    name = "FlyteAdmin"

    def __init__(self, config: RemoteConfig, *, client: HttpClient | None = None) -> None:
        if not config.admin_url:
            raise AnalyzerError(
                "the FlyteAdmin metrics need --admin-url (or OTEL_FOLD_ADMIN_URL), e.g. http://localhost:8088"
            )
        self.config = config
        self.client = client or HttpClient(config.admin_url, config.http())

    def timeline(self, exec_id: str) -> TL.ExecutionTimeline:
        """The execution's nodes and segments as FlyteAdmin computed them ("project/domain/name", or a name
        with --project/--domain)."""
        project, domain, name = self._identifier(exec_id)
        path = METRICS_PATH.format(project=project, domain=domain, name=name)
        resp = self.client.get(path, {"depth": self.config.admin_depth}, expect=(200, 404))
        if resp.status == 404:
            raise NotFound(f"FlyteAdmin at {self.client.base_url} has no execution {project}/{domain}/{name}")
        return decode_metrics(resp.body, resp.url)

    def _identifier(self, exec_id: str) -> tuple[str, str, str]:
        parts = exec_id.split("/")
        if len(parts) == 3 and all(parts):
            return parts[0], parts[1], parts[2]
        if self.config.project and self.config.domain:
            return self.config.project, self.config.domain, exec_id
        raise AnalyzerError(
            f"FlyteAdmin needs the execution's project and domain: pass project/domain/{exec_id} "
            f"or --project and --domain (OTEL_FOLD_PROJECT, OTEL_FOLD_DOMAIN)"
        )
