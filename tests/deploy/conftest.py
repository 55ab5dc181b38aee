"""The deployment files, parsed once per test session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "collector-config"


def load_yaml(path: Path) -> Any:
    """yaml.safe_load of a repository file."""
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def compose() -> dict:
    """docker-compose.yml."""
    return load_yaml(REPO / "docker-compose.yml")


@pytest.fixture(scope="session")
def collector() -> dict:
    """The OpenTelemetry Collector config."""
    return load_yaml(CONFIG / "otel-collector.yaml")


@pytest.fixture(scope="session")
def tempo() -> dict:
    """The Tempo config."""
    return load_yaml(CONFIG / "tempo.yaml")


@pytest.fixture(scope="session")
def prometheus() -> dict:
    """The Prometheus config."""
    return load_yaml(CONFIG / "prometheus.yaml")


@pytest.fixture(scope="session")
def datasources() -> list[dict]:
    """Grafana's provisioned datasources."""
    return load_yaml(CONFIG / "grafana" / "provisioning" / "datasources" / "datasources.yaml")["datasources"]


@pytest.fixture(scope="session")
def dashboard_provider() -> dict:
    """Grafana's one dashboard provider."""
    (provider,) = load_yaml(CONFIG / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml")[
        "providers"
    ]
    return provider


@pytest.fixture(scope="session")
def dashboards() -> list[dict]:
    """Every dashboard JSON."""
    return [json.loads(p.read_text()) for p in sorted((CONFIG / "grafana" / "dashboards").glob("*.json"))]
