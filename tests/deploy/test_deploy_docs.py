"""docs/deploy.md against the deployment files and upstream: the pinned images and the Flyte recipes' YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

# api_v3 over HTTP filters FindTraces by attribute from this release on (jaegertracing/jaeger v2.19.0
# CHANGELOG.md:35, #8687); before, `--jaeger-api auto` must fall back to v1 or filter the window here.
JAEGER_FILTERS_FROM = (2, 19, 0)
# The exporters that reach the collector or `otel-fold collect` (flyteorg/flyte flytestdlib/v1.13.0
# flytestdlib/otelutils/config.go:20-21).
OTLP_TYPES = {"otlpgrpc", "otlphttp"}
# Top-level key of a YAML snippet -> where its `otel` section sits: the plain flytestdlib config, the
# flyte-core chart's own value (rendered as otel.yaml, which sorts after core.yaml and so wins:
# flyteorg/flyte v1.16.8 charts/flyte-core/templates/propeller/configmap.yaml:30-31), flyte-binary's inline.
RECIPES = {
    "otel": ("otel",),
    "configmap": ("configmap", "otel", "otel"),
    "configuration": ("configuration", "inline", "otel"),
}


@pytest.fixture(scope="module")
def doc(repo: Path) -> str:
    """docs/deploy.md."""
    return (repo / "docs" / "deploy.md").read_text()


@pytest.fixture(scope="module")
def snippets(doc: str) -> list[Any]:
    """Its YAML blocks, parsed."""
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", doc, re.S)]


def _dig(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        assert isinstance(doc, dict) and key in doc, f"no {'.'.join(path)} in {doc}"
        doc = doc[key]
    return doc


def test_the_pinned_jaeger_filters_api_v3_searches_on_the_server(compose: dict) -> None:
    name, tag = compose["services"]["jaeger"]["image"].rsplit(":", 1)
    assert name == "jaegertracing/jaeger"
    assert tuple(int(part) for part in tag.split(".")) >= JAEGER_FILTERS_FROM


def test_the_docs_image_table_names_the_compose_files_images(compose: dict, doc: str) -> None:
    rows = re.findall(r"^\| `([\w-]+)` \| `([^`]+)` \|", doc, re.M)
    assert dict(rows) == {name: svc["image"] for name, svc in compose["services"].items()}


@pytest.mark.parametrize("top", sorted(RECIPES))
def test_each_recipe_exports_otlp_and_keeps_every_round(snippets: list[Any], top: str) -> None:
    (snippet,) = [s for s in snippets if top in s]
    assert list(snippet) == [top]
    otel = _dig(snippet, RECIPES[top])
    assert otel["type"] in OTLP_TYPES
    assert _dig(otel, (otel["type"], "endpoint")).startswith("http://")
    assert otel["sampler"]["parentSampler"] == "always"  # ratio sampling drops whole rounds


def test_the_flyte_core_recipe_sets_the_charts_configmap_otel_and_nothing_else(snippets: list[Any]) -> None:
    (values,) = [s for s in snippets if "configmap" in s]
    assert list(values["configmap"]) == ["otel"]  # an otel section in configmap.core loses to otel.yaml


def test_every_yaml_snippet_is_one_of_the_recipes(snippets: list[Any]) -> None:
    assert snippets and all(isinstance(s, dict) and len(s) == 1 and set(s) <= set(RECIPES) for s in snippets)
