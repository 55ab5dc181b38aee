"""Static validation of collector-config/ and docker-compose.yml: names, wiring, ports, mounts, formats."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from analyzer import classify
from analyzer.framing import JSON_LINES_SUFFIX, PROTO_SUFFIX
from flyte_otel import semconv as sc

# Component types of otel/opentelemetry-collector-contrib 0.143 that this config may use, by kind
# (extension/healthcheckextension, receiver/otlpreceiver, processor/{memorylimiter,batch}processor, exporter/{otlp,file,prometheus}exporter,
# connector/spanmetricsconnector), and which pipeline types each side of a connector takes.
COLLECTOR_TYPES = {
    "extensions": {"health_check"},
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch"},
    "exporters": {"otlp", "file", "prometheus"},
    "connectors": {"spanmetrics"},
}
CONNECTOR_SIGNALS = {"spanmetrics": ("traces", "metrics")}  # consumes traces, produces metrics
PIPELINE_TYPES = {"traces", "metrics", "logs"}

# What each image listens on inside the network, when not read from our own config files:
# Jaeger v2 all-in-one (OTLP 4317/4318, UI/API 16686), Prometheus 9090, Grafana 3000.
IMAGE_PORTS = {
    "jaeger": {4317, 4318, 16686},
    "prometheus": {9090},
    "grafana": {3000},
    "otel-collector-health": set(),
}
# The label each exemplar source puts the trace id under: the collector's prometheus exporter, always
# (prometheus/otlptranslator v1.0.0 constants.go:19, ExemplarTraceIDKey); Tempo's metrics-generator, its
# trace_id_label_name override, else "traceID" (grafana/tempo v2.9.2 modules/generator/registry/histogram.go:80-82).
COLLECTOR_EXEMPLAR_LABEL = "trace_id"
TEMPO_EXEMPLAR_LABEL = "traceID"
# Tempo's metrics-generator processor that duplicates the collector's spanmetrics connector.
TEMPO_SPAN_METRICS = "span-metrics"
# Services whose image cannot run a probe (the collector: FROM scratch, opentelemetry-collector-releases
# v0.143.0 distributions/otelcol-contrib/Dockerfile:4), and those nothing waits for (Grafana).
NO_HEALTHCHECK = {"otel-collector": "no shell", "grafana": "nothing waits for it"}
UI_PORTS = {"grafana": 3000, "jaeger": 16686, "prometheus": 9090}
OTLP_PORTS = {4317, 4318}
FILE_FORMAT_SUFFIX = {"proto": PROTO_SUFFIX, "json": JSON_LINES_SUFFIX}  # what docs/store.md reads
# Attributes that take one value per execution / node / blob / write: never a metrics dimension.
UNBOUNDED = {
    sc.EXEC_ID,
    sc.NODE_ID,
    sc.RESOURCE_VERSION,
    sc.BLOB_KEY,
    sc.CHILD_EXEC_ID,
    sc.NODE_UPSTREAM,
    sc.NODE_PARENT,
    sc.ARRAY_INDEX,
    sc.ETCD_SIZE,
    sc.BLOB_SIZE,
}
# propeller's orchestration work (the dashboard's panels); the task pod's own spans are not propeller's
ORCHESTRATION = [
    c
    for c in sc.Category.ALL
    if c not in (sc.Category.USER, sc.Category.LIFECYCLE, sc.Category.OTHER) and not c.startswith("pod.")
]


def _type(component_id: str) -> str:
    return component_id.split("/")[0]


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _listening(compose, collector, tempo) -> dict[str, set[int]]:  # type: ignore[no-untyped-def]
    """service -> ports it listens on inside the compose network, from the configs where we set them."""
    ports = {name: set(p) for name, p in IMAGE_PORTS.items()}
    otlp = collector["receivers"]["otlp"]["protocols"]
    ports["otel-collector"] = (
        {_port(p["endpoint"]) for p in otlp.values()}
        | {
            _port(cfg["endpoint"])
            for cid, cfg in collector["exporters"].items()
            if _type(cid) == "prometheus"
        }
        | {_port(cfg["endpoint"]) for cfg in collector["extensions"].values()}
    )
    tempo_otlp = tempo["distributor"]["receivers"]["otlp"]["protocols"]
    ports["tempo"] = {tempo["server"]["http_listen_port"]} | {
        _port(p["endpoint"]) for p in tempo_otlp.values()
    }
    assert set(ports) == set(compose["services"])
    return ports


def _mount(spec: str) -> tuple[str, str]:
    """(source, target) of a compose volume spec; the source may be ${VAR:-default}."""
    if spec.startswith("${"):
        end = spec.index("}") + 1
        return spec[:end], spec[end + 1 :].split(":")[0]
    source, target = spec.split(":")[:2]
    return source, target


def _published(service: dict) -> list[tuple[str, int, int]]:
    out = []
    for spec in service.get("ports", []):
        host, hport, cport = spec.rsplit(":", 2)
        out.append((host, int(hport), int(cport)))
    return out


def test_every_config_file_parses(repo):
    files = [repo / "docker-compose.yml", *sorted((repo / "collector-config").rglob("*.yaml"))]
    assert len(files) >= 6
    for path in files:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path


def test_collector_components_are_real_types_and_each_is_defined_and_used(collector):
    used: dict[str, set[str]] = {k: set() for k in COLLECTOR_TYPES}
    pipelines = collector["service"]["pipelines"]
    for name, p in pipelines.items():
        assert _type(name) in PIPELINE_TYPES, name
        for kind in ("receivers", "processors", "exporters"):
            for cid in p.get(kind, []):
                section = "connectors" if cid in collector.get("connectors", {}) else kind
                assert cid in collector.get(section, {}), f"{name}: {cid} is not defined"
                used[section].add(cid)
    used["extensions"] = set(collector["service"].get("extensions", []))
    for kind, allowed in COLLECTOR_TYPES.items():
        defined = set(collector.get(kind, {}))
        assert defined == used[kind], f"{kind}: defined {defined}, used {used[kind]}"
        assert {_type(c) for c in defined} <= allowed


def test_spanmetrics_connector_joins_a_traces_pipeline_to_a_metrics_pipeline(collector):
    pipelines = collector["service"]["pipelines"]
    for cid in collector["connectors"]:
        consumes, produces = CONNECTOR_SIGNALS[_type(cid)]
        assert [n for n, p in pipelines.items() if cid in p.get("exporters", [])]
        assert all(_type(n) == consumes for n, p in pipelines.items() if cid in p.get("exporters", []))
        assert [n for n, p in pipelines.items() if cid in p.get("receivers", [])]
        assert all(_type(n) == produces for n, p in pipelines.items() if cid in p.get("receivers", []))


def test_memory_limiter_runs_first_and_batch_last(collector):
    for p in collector["service"]["pipelines"].values():
        procs = [_type(c) for c in p.get("processors", [])]
        if procs:
            assert procs[0] == "memory_limiter" and procs[-1] == "batch"


def test_spanmetrics_has_bounded_dimensions_and_explicit_buckets(collector):
    (cfg,) = collector["connectors"].values()
    buckets = cfg["histogram"]["explicit"]["buckets"]
    assert len(buckets) >= 5
    dims = [d["name"] for d in cfg["dimensions"]]
    assert dims and not set(dims) & UNBOUNDED
    names = {v for k, v in vars(sc).items() if k.isupper() and isinstance(v, str)}
    assert set(dims) <= names  # every dimension is an attribute our spans (or upstream's) carry


def test_collector_exporters_reach_services_on_ports_they_listen_on(compose, collector, tempo):
    listening = _listening(compose, collector, tempo)
    targets = {cid: cfg["endpoint"] for cid, cfg in collector["exporters"].items() if _type(cid) == "otlp"}
    assert {urlsplit("//" + e).hostname for e in targets.values()} == {"tempo", "jaeger"}
    for cid, endpoint in targets.items():
        host, port = endpoint.rsplit(":", 1)
        assert int(port) in listening[host], cid


def test_prometheus_scrapes_the_collectors_spanmetrics_and_takes_tempos_remote_write(
    compose, collector, tempo, prometheus
):
    listening = _listening(compose, collector, tempo)
    targets = [
        t for job in prometheus["scrape_configs"] for sc_ in job["static_configs"] for t in sc_["targets"]
    ]
    prom_port = _port(
        next(c["endpoint"] for i, c in collector["exporters"].items() if _type(i) == "prometheus")
    )
    assert f"otel-collector:{prom_port}" in targets
    for t in targets:
        host, port = t.rsplit(":", 1)
        assert int(port) in listening[host]
    for rw in tempo["metrics_generator"]["storage"]["remote_write"]:
        url = urlsplit(rw["url"])
        assert url.port in listening[url.hostname] and url.path == "/api/v1/write"
    assert "--web.enable-remote-write-receiver" in compose["services"]["prometheus"]["command"]


def test_only_otlp_and_ui_ports_are_published_on_loopback_by_default(compose):
    published = {name: _published(svc) for name, svc in compose["services"].items()}
    assert {p for _, p, _ in published["otel-collector"]} == OTLP_PORTS
    for name, port in UI_PORTS.items():
        assert [(h, c) for h, _, c in published[name]] == [("${OTEL_FOLD_BIND:-127.0.0.1}", port)]
    assert published["tempo"] == []
    for host, hport, cport in (x for ps in published.values() for x in ps):
        assert host == "${OTEL_FOLD_BIND:-127.0.0.1}" and hport == cport


def test_every_mounted_file_exists_and_every_volume_is_declared(compose, repo):
    store_mounts = 0
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes", []):
            source, _ = _mount(spec)
            if source.startswith("${OTEL_FOLD_STORE"):
                store_mounts += 1  # the store directory on the host: created on first start
            elif source.startswith("."):
                assert (repo / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"
    assert store_mounts == 1


def test_file_exporter_writes_a_format_the_analyzer_reads_into_the_store_mount(compose, collector):
    (store_mount,) = [
        _mount(v)[1]
        for v in compose["services"]["otel-collector"]["volumes"]
        if v.startswith("${OTEL_FOLD_STORE")
    ]
    files = [cfg for cid, cfg in collector["exporters"].items() if _type(cid) == "file"]
    assert files
    for cfg in files:
        path = Path(cfg["path"])
        assert path.suffix == FILE_FORMAT_SUFFIX[cfg["format"]]
        assert str(path.parent) == store_mount  # not recursive: the reader takes only the top directory
        assert "compression" not in cfg  # the store holds uncompressed records


def test_tempo_uses_local_storage_and_enables_traceql_metrics(tempo):
    assert tempo["storage"]["trace"]["backend"] == "local"
    assert tempo["storage"]["trace"]["local"]["path"]
    processors = tempo["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert "local-blocks" in processors
    assert tempo["metrics_generator"]["traces_storage"]["path"]
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].startswith("0.0.0.0:")


def test_grafana_datasources_point_at_the_services_and_each_other(compose, collector, tempo, datasources):
    listening = _listening(compose, collector, tempo)
    by_type = {d["type"]: d for d in datasources}
    assert set(by_type) == {"tempo", "jaeger", "prometheus"}
    assert urlsplit(by_type["tempo"]["url"]).port == tempo["server"]["http_listen_port"]
    uids = {d["uid"] for d in datasources}
    for d in datasources:
        url = urlsplit(d["url"])
        assert url.hostname == d["type"] and url.port in listening[url.hostname]
        links = d.get("jsonData", {})
        for key in ("tracesToMetrics", "serviceMap"):
            if key in links:
                assert links[key]["datasourceUid"] in uids
    for d in ("tempo", "jaeger"):
        assert by_type[d]["jsonData"]["tracesToMetrics"]["datasourceUid"] == by_type["prometheus"]["uid"]


def test_dashboard_provider_reads_the_mounted_dashboards(compose, dashboard_provider):
    mounts = dict(_mount(v) for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./collector-config/grafana/dashboards"] == dashboard_provider["options"]["path"]


def _span_name_regex(expr: str) -> tuple[str, str | None]:
    """The span_name=~ regex of a PromQL selector, and its span_name!~ exclusion if any."""
    keep = re.search(r'span_name=~"([^"]+)"', expr).group(1)  # type: ignore[union-attr]
    drop = re.search(r'span_name!~"([^"]+)"', expr)
    return keep, drop.group(1) if drop else None


def _selects(regexes: tuple[str, str | None], name: str) -> bool:
    keep, drop = regexes  # PromQL regexes are anchored: fullmatch
    return re.fullmatch(keep, name) is not None and (drop is None or re.fullmatch(drop, name) is None)


def test_dashboard_has_percentiles_and_rate_for_every_orchestration_category(
    dashboards, datasources, collector
):
    (dash,) = dashboards
    uids = {d["uid"] for d in datasources}
    (sm,) = collector["connectors"].values()
    # The prometheus exporter's names for spanmetrics' histogram (unit ms) and counter.
    prefix = sm["namespace"].replace(".", "_")
    bucket, calls = f"{prefix}_duration_milliseconds_bucket", f"{prefix}_calls_total"
    latency = {p["title"].split(":")[0]: p for p in dash["panels"] if "latency" in p["title"]}
    rate = {p["title"].split(":")[0]: p for p in dash["panels"] if p["title"].endswith(": rate")}
    assert set(latency) == set(rate) == set(ORCHESTRATION)
    for cat in ORCHESTRATION:
        exprs = [t["expr"] for t in latency[cat]["targets"]]
        assert [re.match(r"histogram_quantile\(([\d.]+),", e).group(1) for e in exprs] == [
            "0.5",
            "0.9",
            "0.99",
        ]
        assert all(bucket in e for e in exprs) and calls in rate[cat]["targets"][0]["expr"]
        assert len({_span_name_regex(e) for e in exprs + [rate[cat]["targets"][0]["expr"]]}) == 1
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] in uids


@pytest.mark.parametrize(
    "name",
    sorted(
        {v for k, v in vars(sc).items() if k.isupper() and isinstance(v, str) and ("/" in v or "." in v)}
        - set(sc.PROMOTED_ATTRIBUTES)
    ),
)
def test_dashboard_category_regexes_agree_with_the_classifier(dashboards, name):
    (dash,) = dashboards
    regexes = {
        p["title"].split(":")[0]: _span_name_regex(p["targets"][0]["expr"])
        for p in dash["panels"]
        if "latency" in p["title"]
    }
    # Prefix constants (ending in "/" or ".") stand for any method under them.
    probe = name + "Method" if name.endswith(("/", ".")) else name
    category = classify.category(probe, "")
    matches = {cat for cat, rx in regexes.items() if _selects(rx, probe)}
    assert matches == ({category} if category in regexes else set())


def test_exemplars_flow_from_the_spanmetrics_connector_to_prometheus(compose, collector):
    (connector,) = collector["connectors"].values()
    assert connector["exemplars"]["enabled"] is True
    exporters = [cfg for cid, cfg in collector["exporters"].items() if _type(cid) == "prometheus"]
    assert exporters and all(cfg["enable_open_metrics"] is True for cfg in exporters)  # exemplars need it
    assert "--enable-feature=exemplar-storage" in compose["services"]["prometheus"]["command"]


def _tempo_exemplar_label(tempo) -> str | None:  # type: ignore[no-untyped-def]
    """The label Tempo's metrics-generator puts its exemplars' trace ids under, None if it sends none."""
    generator = tempo["overrides"]["defaults"]["metrics_generator"]
    sends = any(rw.get("send_exemplars") for rw in tempo["metrics_generator"]["storage"]["remote_write"])
    histograms = set(generator["processors"]) & {"service-graphs", TEMPO_SPAN_METRICS}
    return generator.get("trace_id_label_name") or TEMPO_EXEMPLAR_LABEL if sends and histograms else None


def test_grafanas_exemplar_link_names_every_label_the_exemplars_carry(collector, tempo, datasources):
    emitted = {COLLECTOR_EXEMPLAR_LABEL} | ({label} if (label := _tempo_exemplar_label(tempo)) else set())
    (prometheus,) = [d for d in datasources if d["type"] == "prometheus"]
    links = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert {link["name"] for link in links} == emitted
    uids = {d["type"]: d["uid"] for d in datasources}
    assert {link["datasourceUid"] for link in links} == {uids["tempo"]}


def test_one_set_of_span_metrics_the_collectors(repo, collector, tempo):
    assert [_type(c) for c in collector["connectors"]] == ["spanmetrics"]
    assert TEMPO_SPAN_METRICS not in tempo["overrides"]["defaults"]["metrics_generator"]["processors"]
    # nothing queries Tempo's metric names (traces_spanmetrics_*, in seconds)
    queried = [*(repo / "collector-config").rglob("*.yaml"), *(repo / "collector-config").rglob("*.json")]
    assert not [p.name for p in queried if "traces_spanmetrics_" in p.read_text()]


def test_every_dependency_waits_for_health_where_the_image_can_report_it(compose, collector):
    services = compose["services"]
    assert {name for name, svc in services.items() if "healthcheck" not in svc} == set(NO_HEALTHCHECK)
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, cond in depends.items():
            wanted = "service_started" if target in NO_HEALTHCHECK else "service_healthy"
            assert cond == {"condition": wanted}, f"{name} -> {target}"
    # the collector's health is had from its health_check extension, through the probe service
    (health,) = collector["extensions"].values()
    assert "health_check" in collector["service"]["extensions"]
    probe = services["otel-collector-health"]
    assert probe["depends_on"] == {"otel-collector": {"condition": "service_started"}}
    url = urlsplit(probe["healthcheck"]["test"][-1])
    assert (url.hostname, url.port) == ("otel-collector", _port(health["endpoint"]))
    assert health["endpoint"].startswith("0.0.0.0:")  # the default, localhost, is out of the probe's reach
    probes = [svc["healthcheck"]["test"] for svc in services.values() if "healthcheck" in svc]
    assert all(test[0] == "CMD" for test in probes)  # run directly: no image needs a shell on its PATH


def test_jaeger_keeps_traces_in_badger_on_a_named_volume(compose, repo):
    jaeger = compose["services"]["jaeger"]
    mounts = dict(_mount(v)[::-1] for v in jaeger["volumes"])
    config_file = jaeger["command"][jaeger["command"].index("--config") + 1]
    config = yaml.safe_load((repo / mounts[config_file]).read_text())
    storage = config["extensions"]["jaeger_storage"]["backends"]
    used = config["extensions"]["jaeger_query"]["storage"]["traces"]
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == used
    badger = storage[used]["badger"]
    assert badger["ephemeral"] is False  # Jaeger's default is true: a temporary directory
    volumes = {target: source for target, source in mounts.items() if source in compose["volumes"]}
    for directory in badger["directories"].values():
        assert any(Path(directory).is_relative_to(target) for target in volumes), directory
