"""docs/deploy.md against the deployment files and upstream: the pinned images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# api_v3 over HTTP filters FindTraces by attribute from this release on (jaegertracing/jaeger v2.19.0
# CHANGELOG.md:35, #8687); before, `--jaeger-api auto` must fall back to v1 or filter the window here.
JAEGER_FILTERS_FROM = (2, 19, 0)


@pytest.fixture(scope="module")
def doc(repo: Path) -> str:
    """docs/deploy.md."""
    return (repo / "docs" / "deploy.md").read_text()


def test_the_pinned_jaeger_filters_api_v3_searches_on_the_server(compose: dict) -> None:
    name, tag = compose["services"]["jaeger"]["image"].rsplit(":", 1)
    assert name == "jaegertracing/jaeger"
    assert tuple(int(part) for part in tag.split(".")) >= JAEGER_FILTERS_FROM


def test_the_docs_image_table_names_the_compose_files_images(compose: dict, doc: str) -> None:
    rows = re.findall(r"^\| `([\w-]+)` \| `([^`]+)` \|", doc, re.M)
    assert dict(rows) == {name: svc["image"] for name, svc in compose["services"].items()}
