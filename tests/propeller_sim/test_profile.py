"""Latency profiles: parsing, errors that name the key, seeded draws that match the stated quantiles."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from propeller_sim.profile import (
    OPERATIONS,
    POD_OPERATIONS,
    Dist,
    Latencies,
    ProfileError,
    load_profile,
    named_profiles,
    parse_duration,
    profile_from_dict,
)

PROFILES = resources.files("propeller_sim") / "profiles"


def test_durations_parse_with_units() -> None:
    assert parse_duration("8ms", "x") == 8_000_000
    assert parse_duration("1.5s", "x") == 1_500_000_000
    assert parse_duration("200us", "x") == 200_000
    assert parse_duration(2, "x") == 2_000_000_000


def test_every_shipped_profile_loads_by_name_and_covers_every_operation() -> None:
    assert {"default", "fixed", "slow-etcd"} <= set(named_profiles())
    for name in named_profiles():
        assert set(load_profile(name).operations) == set(OPERATIONS) | set(POD_OPERATIONS), name


def test_slow_etcd_profile_differs_from_default_only_in_etcd_writes() -> None:
    base, slow = load_profile("default"), load_profile("slow-etcd")
    changed = {op for op in (*OPERATIONS, *POD_OPERATIONS) if base.operations[op] != slow.operations[op]}
    assert changed == {"etcd.write"}
    assert slow.operations["etcd.write"].a == 2 * base.operations["etcd.write"].a


def test_bad_duration_names_the_file_and_key(tmp_path: Path) -> None:
    doc = (PROFILES / "fixed.yaml").read_text().replace("value: 8ms", "value: eight")
    bad = tmp_path / "bad.yaml"
    bad.write_text(doc)
    with pytest.raises(ProfileError, match=r"bad\.yaml: operations\.etcd\.write\.value"):
        load_profile(bad)


def test_missing_operation_is_a_profile_error_naming_it(tmp_path: Path) -> None:
    lines = [line for line in (PROFILES / "fixed.yaml").read_text().splitlines() if "k8s:" not in line]
    bad = tmp_path / "short.yaml"
    bad.write_text("\n".join(lines))
    with pytest.raises(ProfileError, match=r"missing \['k8s'\]"):
        load_profile(bad)


def test_unknown_profile_name_lists_the_shipped_names() -> None:
    with pytest.raises(
        ProfileError, match=r"profile no-such-profile: .*\(named profiles: default, fixed, slow-etcd\)"
    ):
        load_profile("no-such-profile")


def test_missing_path_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"nope: cannot read \(No such file or directory\)"):
        load_profile(tmp_path / "nope")


def test_not_yaml_is_one_line_naming_the_file_and_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("operations: {a: [\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml: not YAML \(line 2, column 1: ") as e:
        load_profile(bad)
    assert "\n" not in str(e.value)


def test_lognormal_draws_have_the_stated_p50_and_p99() -> None:
    d = Dist("lognormal", 8e6, 40e6)
    x = d.sample(np.random.default_rng(0), 200_000)
    assert np.quantile(x, 0.5) == pytest.approx(8e6, rel=0.02)
    assert np.quantile(x, 0.99) == pytest.approx(40e6, rel=0.05)


def test_changing_one_operation_leaves_every_other_stream_unchanged() -> None:
    base = load_profile("default")
    a, b = Latencies(base, 5), Latencies(base.scaled("etcd.write", 3.0), 5)
    for _ in range(5000):  # more than one refill batch
        for op in OPERATIONS:
            x, y = a.draw(op), b.draw(op)
            if op == "etcd.write":
                assert abs(y - 3 * x) <= 3
            else:
                assert x == y


def test_a_profile_without_the_pod_operations_simulates_pods_without_pod_spans() -> None:
    """They are optional: older profiles keep loading; with all four the simulator emits pod-side spans."""
    doc = yaml.safe_load((resources.files("propeller_sim") / "profiles" / "fixed.yaml").read_text())
    for op in POD_OPERATIONS:
        del doc["operations"][op]
    assert not set(POD_OPERATIONS) & set(profile_from_dict(doc).operations)


def test_a_task_of_its_own_draws_its_latencies_and_every_other_task_keeps_its_draws() -> None:
    doc = yaml.safe_load((resources.files("propeller_sim") / "profiles" / "default.yaml").read_text())
    doc["tasks"] = {"pkg.slow": {"task.run": {"dist": "fixed", "value": "7s"}, "pod.upload": {"dist": "fixed",
                                                                                          "value": "1s"}}}  # fmt: skip
    own, base = Latencies(profile_from_dict(doc), 5), Latencies(load_profile("default"), 5)
    for _ in range(5000):  # more than one refill batch, the two kinds of task interleaved
        assert own.draw("task.run", "pkg.slow") == 7_000_000_000
        assert own.draw("pod.upload", "pkg.slow") == 1_000_000_000
        assert own.draw("task.run", "pkg.other") == base.draw("task.run", "pkg.other")
        assert own.draw("pod.load", "pkg.slow") == base.draw("pod.load")  # not set for it: the profile's


def test_a_task_slower_in_the_profile_is_slower_in_the_simulated_run() -> None:
    """tiny_parallel's n20 is the one node of task `total`: its TASK_RUNTIME moves, its siblings' do not."""
    from propeller_sim.clock import VirtualClock
    from propeller_sim.engine import Simulator
    from propeller_sim.portfolio import BY_NAME

    plan = BY_NAME["tiny_parallel"].plan(small=True)
    base = load_profile("fixed")
    slow = base.with_task("propeller_sim.portfolio._tasks.total", "task.run", Dist("fixed", 9e9))
    for profile, runtime in ((base, 400_000_000), (slow, 9_000_000_000)):
        sim = Simulator(profile, clock=VirtualClock())
        pods = []
        original = sim._pod

        def spy(created: int, run_op: str, task: str | None, original=original, pods=pods):  # type: ignore[no-untyped-def]
            pod = original(created, run_op, task)
            pods.append((task, pod.work[3]))
            return pod

        sim._pod = spy  # type: ignore[method-assign]
        sim.run(plan)
        assert [w for t, w in pods if t and t.endswith(".total")] == [runtime]
        assert {w for t, w in pods if t and t.endswith(".inc")} == {400_000_000}


@pytest.mark.parametrize(
    ("tasks", "says"),
    [
        ({"t": {"etcd.write": {"dist": "fixed", "value": "1ms"}}}, "tasks.t: operations ['etcd.write'] are not set per task"),
        ({"t": {"task.run": {"dist": "nope"}}}, "tasks.t.task.run: expected {dist: fixed | lognormal | uniform"),
        ({"t": [1]}, "tasks: expected a mapping of task names to mappings of operations"),
    ],
)  # fmt: skip
def test_a_bad_tasks_block_is_one_line_naming_the_task(tasks: object, says: str) -> None:
    doc = yaml.safe_load((resources.files("propeller_sim") / "profiles" / "fixed.yaml").read_text())
    doc["tasks"] = tasks
    with pytest.raises(ProfileError) as e:
        profile_from_dict(doc, "p.yaml")
    assert says in str(e.value) and "\n" not in str(e.value)
