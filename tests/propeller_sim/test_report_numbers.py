"""On the virtual clock the report's numbers are what the profile implies; one operation moves only its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analyzer.execution import select_execution
from analyzer.load import load
from analyzer.reduce.report import run_report
from flyte_otel.otlp_encode import encode_json
from propeller_sim.clock import VirtualClock
from propeller_sim.engine import Simulator
from propeller_sim.portfolio import BY_NAME
from propeller_sim.profile import Profile, load_profile
from tests.propeller_sim.conftest import Spans

_MS = 1_000_000
# report group/name -> the profile operations one span of it takes: a leaf (no child operations) is one;
# a catalog look-up is GetDataset, a read of the inputs, GetArtifact; a catalog write is CreateDataset, two
# reads (inputs, outputs), CreateArtifact, AddTag (docs/upstream.md §3.6, cache miss).
_LEAVES = {
    ("events", "workflow"): ("event.workflow",),
    ("events", "node"): ("event.node",),
    ("events", "task"): ("event.task",),
    ("blobstore", "reads"): ("blobstore.read",),
    ("blobstore", "writes"): ("blobstore.write",),
    ("etcd", "reads"): ("etcd.read",),
    ("etcd", "writes"): ("etcd.write",),
    ("cache", "lookups"): ("cache.lookup", "blobstore.read", "cache.lookup"),
    ("cache", "writes"): ("cache.write", "blobstore.read", "blobstore.read", "cache.write", "cache.write"),
    ("k8s", "calls"): ("k8s",),
    ("pod", "downloads"): ("pod.download",),
    ("pod", "uploads"): ("pod.upload",),
    ("admin", "calls"): ("admin",),
}


def _report(traced: Spans, profile: Profile, name: str, runs: int = 1, seed: int = 3) -> dict[str, Any]:
    exporter = traced("flyte_otel")
    sim = Simulator(profile, seed=seed, clock=VirtualClock(1_700_000_000_000_000_000))
    plan = BY_NAME[name].plan()
    results = [sim.run(plan, failures=BY_NAME[name].sim_failures()) for _ in range(runs)]
    table = load(json.dumps(encode_json(exporter.get_finished_spans())).encode())
    return run_report(select_execution(table, results[-1].exec_id))


def _fixed_ns(profile: Profile, op: str) -> int:
    d = profile.operations[op]
    assert d.kind == "fixed"
    return int(d.a)


def test_fixed_profile_latencies_are_every_percentile_of_their_category(traced: Spans) -> None:
    profile = load_profile("fixed")
    rep = _report(traced, profile, "chained_cache")  # a first run: cache look-ups miss, then write
    seen = 0
    for (group, name), op in _LEAVES.items():
        if name not in rep.get(group, {}) or group == "admin":
            continue
        seen += 1
        s = rep[group][name]
        want = sum(_fixed_ns(profile, o) for o in op)
        assert s["latency"] == {"p50": want, "p90": want, "p99": want, "max": want}, (group, name)
        assert s["total"] == s["count"] * want
    assert seen == len(_LEAVES) - 1
    # No launch plan here: the service calls are the catalog's, 2 per look-up and 3 per write
    lookups, writes = rep["cache"]["lookups"]["count"], rep["cache"]["writes"]["count"]
    calls = rep["admin"]["calls"]
    assert calls["count"] == 2 * lookups + 3 * writes
    assert calls["total"] == 2 * lookups * _fixed_ns(profile, "cache.lookup") + 3 * writes * _fixed_ns(
        profile, "cache.write"
    )


def test_task_node_segments_are_the_pod_phases_and_the_propeller_path_to_observe_them(traced: Spans) -> None:
    profile = load_profile("fixed")
    rep = _report(traced, profile, "tiny_chain")
    ms = {op: _fixed_ns(profile, op) for op in profile.operations}
    tasks = [body for n in rep["nodes"] for body in n.values() if body["kind"] == "task"]
    assert len(tasks) == BY_NAME["tiny_chain"].module.LENGTH
    for t in tasks:
        seg = t["segments"]
        assert seg["TASK_SETUP"] == ms["pod.schedule"] + ms["pod.pull"] + ms["pod.start"]
        assert seg["TASK_RUNTIME"] == ms["task.run"]  # the user's function only: the pod's spans split it off
        assert seg["TASK_PREPARE"] == ms["pod.load"] + ms["pod.download"] + ms["pod.convert"]
        assert seg["TASK_FINALIZE"] == ms["pod.convert"] + ms["pod.upload"]
        # pod ends -> informer wakes the workflow -> round reads the CRD -> node handled -> pod read from cache
        assert seg["TASK_TEARDOWN"] == (
            ms["pod.terminate"] + ms["queue.delay"] + ms["etcd.read"] + ms["node.handle"] + ms["k8s"]
        )
        # queued (node event) -> the streak's etcd write -> next streak handles it -> pod created
        assert seg["NODE_SETUP"] == ms["event.node"] + ms["etcd.write"] + ms["node.handle"] + ms["k8s"]
    assert rep["userCode"] * rep["duration"] == pytest.approx(len(tasks) * ms["task.run"], rel=1e-9)


def test_slower_etcd_writes_move_etcd_write_percentiles_and_no_other_leaf(traced: Spans) -> None:
    base_profile = load_profile("fixed")
    base = _report(traced, base_profile, "tiny_parallel")
    slow = _report(traced, base_profile.scaled("etcd.write", 2.0), "tiny_parallel")
    assert slow["etcd"]["writes"]["latency"]["p50"] == 2 * base["etcd"]["writes"]["latency"]["p50"]
    for (group, name), op in _LEAVES.items():
        if "etcd.write" not in op and name in base.get(group, {}):
            assert slow[group][name]["latency"] == base[group][name]["latency"], (group, name)


def test_lognormal_draws_of_other_operations_do_not_depend_on_the_changed_one(traced: Spans) -> None:
    profile = load_profile("default")
    base = _report(traced, profile, "tiny_chain")
    slow = _report(traced, profile.scaled("etcd.write", 2.0), "tiny_chain")
    b, s = base["etcd"]["writes"], slow["etcd"]["writes"]
    if b["count"] == s["count"]:  # same draws, each doubled (int ns: off by rounding at most)
        assert abs(s["total"] - 2 * b["total"]) <= b["count"]
    for (group, name), op in _LEAVES.items():
        if "etcd.write" in op or name not in base.get(group, {}):
            continue
        if base[group][name]["count"] == slow[group][name]["count"]:  # same stream prefix: same samples
            assert slow[group][name]["latency"] == base[group][name]["latency"], (group, name)
