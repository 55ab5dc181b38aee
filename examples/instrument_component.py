"""Instrumenting a component with flyte_otel: a propeller-like loop that runs a one-task workflow, traced.

    python examples/instrument_component.py --store DIR     # spans to DIR (flyte_otel's file exporter)
    otel-fold <execution-id> --store DIR                    # then fold the execution it printed

Without --store, the OTEL_* environment decides where the spans go (e.g. OTEL_EXPORTER_OTLP_ENDPOINT=
http://127.0.0.1:4317 for a collector or `otel-fold collect`), and nothing is exported if it names none.

Two kinds of spans are recorded. Operation spans (round, streak, etcd, events, Kubernetes calls) are
context managers around the work they time. Lifecycle records (execution, node, attempt) are objects
created the moment that thing starts (the execution is created, a node is queued, a pod is created) and
ended when it is observed done, often rounds later: a record keeps its start time, and its span is
written, complete, when it ends. The user code's span is reported by the pod with its own clock.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time

import flyte_otel as fo
from flyte_otel.semconv import STREAK_CHANGED, EventKind, NodeKind, Phase

WORKFLOW = "my.wf"
NAMESPACE = "flytesnacks-development"
START, TASK, END = "start-node", "n0", "end-node"


def _call() -> None:
    """Stands in for one of the component's remote calls (etcd, FlyteAdmin, the Kubernetes API)."""
    time.sleep(0.002)


def user_code() -> int:
    """The task's own work; on a cluster it runs in the pod."""
    return sum(i * i for i in range(100_000))


def _write_crd(exec_id: str, phases: dict[str, str]) -> None:
    """Write the workflow's custom resource (its node phases) to etcd, as the streak's last step."""
    body = json.dumps({"exec_id": exec_id, "nodes": phases}).encode()
    with fo.workflow_store_update(exec_id, size_bytes=len(body)):
        _call()


def run_workflow(exec_id: str) -> None:
    """Run the workflow start-node -> n0 -> end-node in two rounds, recording every step."""
    ex = fo.execution(exec_id, wf=WORKFLOW, ns=NAMESPACE)  # the execution was created: now

    # Round 1: the new workflow is picked up; the start node completes, n0 is queued and its pod created.
    with fo.round(exec_id, wf=WORKFLOW, ns=NAMESPACE):
        with fo.workflow_store_get(exec_id):
            _call()
        with fo.streak(exec_id, wf=WORKFLOW) as streak:
            with fo.event(EventKind.WORKFLOW, exec_id, phase=Phase.RUNNING, phase_from=Phase.QUEUED):
                _call()
            start = ex.node(START, kind=NodeKind.START)
            with fo.handle_node(exec_id, START, phase=Phase.UNDEFINED):
                start.end(Phase.SUCCEEDED)
            n0 = ex.node(TASK, kind=NodeKind.TASK, upstream=[START])  # queued: now
            with fo.handle_node(exec_id, TASK, phase=Phase.QUEUED), fo.handle_task(exec_id, TASK):
                with fo.k8s("create", "pods", exec_id=exec_id, node=TASK):
                    _call()
                attempt = n0.attempt(0)  # the pod exists: attempt 0 was created now
                with fo.event(
                    EventKind.TASK, exec_id, node=TASK, phase=Phase.QUEUED, phase_from=Phase.UNDEFINED
                ):
                    _call()
            with fo.event(EventKind.NODE, exec_id, node=TASK, phase=Phase.RUNNING, phase_from=Phase.QUEUED):
                _call()
            streak.set_attribute(STREAK_CHANGED, True)
            _write_crd(exec_id, {START: Phase.SUCCEEDED, TASK: Phase.RUNNING})

    # The pod runs the task and reports when its user code ran (the pod's clock; here the same process's,
    # fo.now_ns(): the clock the records use, so the user code lies inside its attempt).
    began = fo.now_ns()
    user_code()
    attempt.user_code(start=began, end=fo.now_ns())

    # Round 2: the informer reports the pod succeeded; n0, the end node and the workflow complete.
    with fo.round(exec_id, wf=WORKFLOW, ns=NAMESPACE):
        with fo.workflow_store_get(exec_id):
            _call()
        with fo.streak(exec_id, wf=WORKFLOW) as streak:
            with fo.handle_node(exec_id, TASK, phase=Phase.RUNNING), fo.handle_task(exec_id, TASK):
                with fo.k8s("get", "pods", exec_id=exec_id, node=TASK):
                    _call()
                attempt.end(Phase.SUCCEEDED)
                with fo.event(
                    EventKind.TASK, exec_id, node=TASK, phase=Phase.SUCCEEDED, phase_from=Phase.QUEUED
                ):
                    _call()
            with fo.event(
                EventKind.NODE, exec_id, node=TASK, phase=Phase.SUCCEEDED, phase_from=Phase.RUNNING
            ):
                _call()
            n0.end(Phase.SUCCEEDED)
            end = ex.node(END, kind=NodeKind.END, upstream=[TASK])
            with fo.handle_node(exec_id, END, phase=Phase.UNDEFINED):
                end.end(Phase.SUCCEEDED)
            with fo.event(EventKind.WORKFLOW, exec_id, phase=Phase.SUCCEEDED, phase_from=Phase.RUNNING):
                _call()
            streak.set_attribute(STREAK_CHANGED, True)
            _write_crd(exec_id, {START: Phase.SUCCEEDED, TASK: Phase.SUCCEEDED, END: Phase.SUCCEEDED})
    ex.end(Phase.SUCCEEDED)


def main() -> None:
    """Configure flyte_otel once at start-up, run one execution, flush on the way out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", metavar="DIR", help="write spans to this store directory (file exporter)")
    parser.add_argument("--exec-id", help="the execution id (default: a new random one)")
    args = parser.parse_args()
    if args.store:
        fo.configure(exporter="file", path=args.store, service_name="flytepropeller")
    else:
        fo.configure(service_name="flytepropeller")  # exporter from OTEL_* (none if they name none)
    exec_id = args.exec_id or "f" + secrets.token_hex(9)
    run_workflow(exec_id)
    fo.shutdown()
    print(exec_id)


if __name__ == "__main__":
    main()
