"""Latency profiles: named distributions per operation (YAML), sampled from seeded numpy Generators."""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

__all__ = [
    "OPERATIONS",
    "POD_OPERATIONS",
    "TASK_OPERATIONS",
    "Dist",
    "Latencies",
    "Profile",
    "ProfileError",
    "load_profile",
    "named_profiles",
    "parse_duration",
    "profile_from_dict",
]

# Operations the simulator draws a latency for. Those named like a span category are the spans of that
# category; the rest are waits between spans (pod phases, queueing, propeller's own work per node).
OPERATIONS: tuple[str, ...] = (
    "etcd.read",  # WorkflowStore.Get at the start of a round
    "etcd.write",  # WorkflowStore.Update after a streak that changed something
    "event.workflow",
    "event.node",
    "event.task",
    "blobstore.read",
    "blobstore.write",
    "cache.lookup",
    "cache.write",
    "k8s",  # a k8s API call or informer-cache read
    "admin",  # a FlyteAdmin call that is not an event (launch plan executions)
    "node.handle",  # propeller's own work per handled node, outside the calls above
    "queue.delay",  # informer notification -> a worker picks the workflow up
    "pod.schedule",
    "pod.pull",
    "pod.start",
    "task.run",  # user code
    "pod.terminate",
    "dynamic.compile",  # user code of a dynamic task's pod
)
# The task pod's own work, as flyte_otel's flytekit instrumentor sees it (docs/pod_spans.md). Optional: a profile
# without them simulates pods without the instrumentor (no pod-side spans), with all four it emits them.
POD_OPERATIONS: tuple[str, ...] = (
    "pod.load",  # flytekit loads the task
    "pod.download",  # one input or output transfer's time, each way
    "pod.convert",  # literals -> Python, and Python -> literals
    "pod.upload",
)
# What a profile may set per task (its `tasks` block): what happens in and around the task's pod, drawn once
# per attempt; the pod's own work is POD_OPERATIONS, which docs/pod_spans.md's pod-side spans time.
TASK_OPERATIONS: tuple[str, ...] = (
    "pod.schedule",
    "pod.pull",
    "pod.start",
    "task.run",
    "pod.terminate",
    "dynamic.compile",
    *POD_OPERATIONS,
)
_Z99 = 2.3263478740408408  # standard normal quantile at 0.99: lognormal sigma = ln(p99/p50) / z99
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000}
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ns|us|µs|ms|s|m)?\s*")
_BATCH = 4096  # draws per refill: numpy's per-call cost is paid once per batch, not per span
# The shipped profiles are package data, read through importlib.resources so that they are found in a
# wheel or a zip as well as in a source checkout.
_NAMED = resources.files("propeller_sim") / "profiles"


class ProfileError(ValueError):
    """A profile is missing or malformed: the message (one line) names the file and the key."""


@dataclass(frozen=True, slots=True)
class Dist:
    """One operation's latency distribution, in ns."""

    kind: str  # fixed | lognormal | uniform
    a: float  # fixed: value; lognormal: p50; uniform: low
    b: float = 0.0  # lognormal: p99; uniform: high

    def sample(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
        """n draws as int64 ns."""
        return _SAMPLERS[self.kind](self, rng, n)


_SAMPLERS: dict[str, Callable[[Dist, np.random.Generator, int], npt.NDArray[np.int64]]] = {
    "fixed": lambda d, rng, n: np.full(n, int(d.a), dtype=np.int64),
    "lognormal": lambda d, rng, n: rng.lognormal(math.log(d.a), math.log(d.b / d.a) / _Z99, n).astype(
        np.int64
    ),
    "uniform": lambda d, rng, n: rng.uniform(d.a, d.b, n).astype(np.int64),
}
_FIELDS = {"fixed": ("value", None), "lognormal": ("p50", "p99"), "uniform": ("min", "max")}


@dataclass(frozen=True)
class Profile:
    """A named set of operation latencies plus propeller settings."""

    name: str
    operations: Mapping[str, Dist]
    reeval_ns: int = 10_000_000_000  # workflow-reeval-duration: how often a waiting workflow is re-checked
    crd_base_bytes: int = 2048
    crd_node_bytes: int = 320  # status of one started node in the FlyteWorkflow object
    tasks: Mapping[str, Mapping[str, Dist]] = field(default_factory=dict)  # task name -> its own latencies

    def with_operation(self, op: str, dist: Dist) -> Profile:
        """A copy with one operation's distribution replaced."""
        return replace(self, name=f"{self.name}+{op}", operations={**self.operations, op: dist})

    def with_task(self, task: str, op: str, dist: Dist) -> Profile:
        """A copy where one task's pods draw `op` from `dist` (every other task keeps the profile's)."""
        own = {**self.tasks.get(task, {}), op: dist}
        return replace(self, name=f"{self.name}+{task}.{op}", tasks={**self.tasks, task: own})

    def dist(self, op: str, task: str | None = None) -> Dist:
        """The distribution `op` is drawn from (for `task`'s pods, its own when the profile sets one)."""
        own = self.tasks.get(task, {}) if task is not None else {}
        return own.get(op) or self.operations[op]

    def scaled(self, op: str, factor: float) -> Profile:
        """A copy with one operation `factor` times slower (every quantile scaled)."""
        d = self.operations[op]
        return self.with_operation(op, Dist(d.kind, d.a * factor, d.b * factor))


def parse_duration(value: Any, where: str) -> int:
    """'8ms', '1.5s', '200us' or a number of seconds -> int ns."""
    if isinstance(value, bool):
        raise ProfileError(f"{where}: expected a duration such as '8ms', got {value!r}")
    if isinstance(value, int | float):
        return int(value * 1e9)
    m = _DURATION.fullmatch(str(value))
    if not m:
        raise ProfileError(f"{where}: expected a duration such as '8ms', got {value!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2) or "s"])


def named_profiles() -> tuple[str, ...]:
    """The names of the profiles shipped in propeller_sim/profiles/, sorted."""
    return tuple(sorted(f.name.removesuffix(".yaml") for f in _NAMED.iterdir() if f.name.endswith(".yaml")))


def load_profile(source: str | Path) -> Profile:
    """Read a profile: a path to a YAML file, or the name of a shipped one (named_profiles())."""
    path = Path(source)
    if path.name == str(source) and not path.suffix and not path.exists():  # a bare name, not a path
        named = _NAMED / f"{source}.yaml"
        if not named.is_file():
            raise ProfileError(f"profile {source}: no such file, nor a profile of that name "
                               f"(named profiles: {', '.join(named_profiles())})")  # fmt: skip
        return _parse(named.read_text(encoding="utf-8"), str(named))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ProfileError(f"profile {source}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ProfileError(f"profile {source}: not UTF-8 text") from None
    return _parse(text, str(path))


def _parse(text: str, where: str) -> Profile:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # PyYAML's message spans lines (a source snippet and a caret): keep its position and problem only.
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ProfileError(f"profile {where}: not YAML ({at}{getattr(e, 'problem', None) or e})") from None
    return profile_from_dict(doc, where)


def profile_from_dict(doc: Any, where: str = "profile") -> Profile:
    """Build a Profile from its YAML document; every operation of OPERATIONS must be given (POD_OPERATIONS may)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("operations"), dict):
        raise ProfileError(f"{where}: expected a mapping with an 'operations' mapping")
    ops = {str(k): _dist(v, f"{where}: operations.{k}") for k, v in doc["operations"].items()}
    unknown = sorted(set(ops) - set(OPERATIONS) - set(POD_OPERATIONS))
    missing = [op for op in OPERATIONS if op not in ops]
    if unknown or missing:
        raise ProfileError(f"{where}: operations unknown {unknown}, missing {missing}")
    settings = doc.get("propeller") or {}
    return Profile(
        str(doc.get("name") or Path(where).stem),
        ops,
        parse_duration(settings.get("reeval", "10s"), f"{where}: propeller.reeval"),
        int(settings.get("crd_base_bytes", 2048)),
        int(settings.get("crd_node_bytes", 320)),
        _tasks(doc.get("tasks") or {}, where),
    )


def _tasks(block: Any, where: str) -> dict[str, dict[str, Dist]]:
    """The `tasks` block: task name -> {operation of TASK_OPERATIONS: distribution}."""
    if not isinstance(block, dict) or not all(isinstance(v, dict) for v in block.values()):
        raise ProfileError(f"{where}: tasks: expected a mapping of task names to mappings of operations")
    out: dict[str, dict[str, Dist]] = {}
    for task, ops in block.items():
        unknown = sorted(str(op) for op in ops if op not in TASK_OPERATIONS)
        if unknown:
            raise ProfileError(f"{where}: tasks.{task}: operations {unknown} are not set per task "
                               f"(these are: {', '.join(TASK_OPERATIONS)})")  # fmt: skip
        out[str(task)] = {str(op): _dist(v, f"{where}: tasks.{task}.{op}") for op, v in ops.items()}
    return out


def _dist(spec: Any, where: str) -> Dist:
    if not isinstance(spec, dict) or spec.get("dist") not in _FIELDS:
        raise ProfileError(f"{where}: expected {{dist: {' | '.join(_FIELDS)}, ...}}, got {spec!r}")
    kind = spec["dist"]
    fa, fb = _FIELDS[kind]
    if fa not in spec or (fb is not None and fb not in spec):
        raise ProfileError(f"{where}: dist {kind} needs {fa}" + (f" and {fb}" if fb else ""))
    a = parse_duration(spec[fa], f"{where}.{fa}")
    b = parse_duration(spec[fb], f"{where}.{fb}") if fb else 0
    if kind == "lognormal" and not 0 < a <= b:
        raise ProfileError(f"{where}: lognormal needs 0 < p50 <= p99")
    if kind == "uniform" and not 0 <= a <= b:
        raise ProfileError(f"{where}: uniform needs 0 <= min <= max")
    if kind == "lognormal" and a == b:
        kind = "fixed"  # sigma 0
    return Dist(kind, a, b)


class Latencies:
    """Seeded draws per operation; each operation has its own stream, so changing one leaves the others' draws
    alone. A task with latencies of its own draws them from streams of its own, so the other tasks' draws stay
    the same too."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self._profile = profile
        self._seed = seed
        self._buf: dict[tuple[str, str | None], list[int]] = {}
        self._rngs: dict[tuple[str, str | None], np.random.Generator] = {}

    def draw(self, op: str, task: str | None = None) -> int:
        """One latency of `op` in ns (for a pod of `task`: its own, when the profile sets one)."""
        key = (op, task if task is not None and op in self._profile.tasks.get(task, {}) else None)
        buf = self._buf.get(key)
        if not buf:
            rng = self._rngs.get(key)
            if rng is None:
                words = [zlib.crc32(op.encode())] + ([zlib.crc32(key[1].encode())] if key[1] else [])
                rng = self._rngs[key] = np.random.default_rng([self._seed, *words])
            buf = self._buf[key] = self._profile.dist(*key).sample(rng, _BATCH).tolist()[::-1]
        return buf.pop()
