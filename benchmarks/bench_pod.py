"""Pod-side spans' cost: a trivial flytekit task through the real pod entrypoint, instrumented vs not.

Each run is one `pyflyte-execute` process (what a task pod runs), its inputs written by flytekit to a local
directory. Four variants, interleaved run by run so that the machine's drift hits them alike:

* `absent`: flyte-otel's flytekit.plugins entry point hidden, as in an image without flyte-otel;
* `off`: installed, FLYTE_OTEL_FLYTEKIT unset (the hook reads one variable; `import flyte_otel` is the cost);
* `otlp-http` / `otlp-grpc`: switched on, spans sent to `otel-fold collect` on loopback.

Prints the median wall time of each and its ratio to `absent` (target: otlp-http <= 1.15x).

    .venv/bin/python benchmarks/bench_pod.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = "from flytekit import task\n\n@task\ndef double(x: int) -> int:\n    return 2 * x\n"
INPUTS = (
    "from flytekit.core.context_manager import FlyteContextManager as M\n"
    "from flytekit.core.type_engine import TypeEngine as T\n"
    "from flytekit.core.utils import write_proto_to_file as w\n"
    "import sys\n"
    "w(T.dict_to_literal_map(M.current_context(), {'x': 21}, {'x': int}).to_flyte_idl(), sys.argv[1])\n"
)
# The pod's entrypoint, with flyte-otel's plugin entry point hidden when HIDE_FLYTE_OTEL is set.
LAUNCH = (
    "import os, sys, importlib.metadata as md\n"
    "if os.environ.get('HIDE_FLYTE_OTEL'):\n"
    "    every = md.entry_points\n"
    "    md.entry_points = lambda **kw: ([e for e in every(**kw) if not e.value.startswith('flyte_otel')]\n"
    "                                    if 'group' in kw else every(**kw))\n"
    "from flytekit.bin.entrypoint import execute_task_cmd\n"
    "sys.argv[0] = 'pyflyte-execute'\n"
    "execute_task_cmd()\n"
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int) -> None:
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def main() -> int:
    """Run the four variants interleaved and print medians and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 runs of each instead of 20")
    runs = 5 if ap.parse_args().quick else 20
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        (tmp / "podtasks.py").write_text(TASKS)
        subprocess.run([sys.executable, "-c", INPUTS, str(tmp / "inputs.pb")], check=True)
        grpc_port, http_port = _port(), _port()
        collector = subprocess.Popen(
            [str(Path(sys.executable).with_name("otel-fold")), "collect", "--grpc", f"127.0.0.1:{grpc_port}",
             "--http", f"127.0.0.1:{http_port}", "--store", str(tmp / "store")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_listening(grpc_port)
            _wait_listening(http_port)
            times = _measure(tmp, runs, grpc_port, http_port)
        finally:
            collector.terminate()
            collector.wait(30)
        from analyzer.load import load

        roots = int((load(tmp / "store").df["name"] == "flyte.pod.task").sum())
        assert roots == 2 * (runs + 1), (
            f"{roots} pod roots reached the collector, not {2 * (runs + 1)}: spans lost"
        )
    base = statistics.median(times["absent"])
    print(f"pyflyte-execute of a trivial task, median of {runs} interleaved runs each:")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:10s} {med * 1000:8.1f} ms   {med / base:5.2f}x")
    print("target: otlp-http <= 1.15x")
    return 0


def _measure(tmp: Path, runs: int, grpc_port: int, http_port: int) -> dict[str, list[float]]:
    common = {**os.environ, "PYTHONPATH": str(tmp), "FLYTE_INTERNAL_EXECUTION_ID": "fbench1",
              "FLYTE_INTERNAL_EXECUTION_PROJECT": "p", "FLYTE_INTERNAL_EXECUTION_DOMAIN": "d",
              "FLYTE_ATTEMPT_NUMBER": "0", "FLYTE_INTERNAL_TASK_NAME": "podtasks.double"}  # fmt: skip
    for var in ("FLYTE_OTEL_FLYTEKIT", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        common.pop(var, None)
    on = {"FLYTE_OTEL_FLYTEKIT": "true"}
    variants = {
        "absent": {"HIDE_FLYTE_OTEL": "1"},
        "off": {},
        "otlp-http": {**on, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                      "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}"},
        "otlp-grpc": {**on, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                      "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}"},
    }  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(runs + 1):  # the first round warms the file cache and is not counted
        for name, extra in variants.items():
            prefix = (tmp / f"metadata/propeller/p-d-fbench1/n0/data/{i}").as_uri()
            argv = [sys.executable, "-c", LAUNCH, "--inputs", (tmp / "inputs.pb").as_uri(), "--output-prefix",
                    prefix, "--raw-output-data-prefix", (tmp / "raw").as_uri(), "--resolver",
                    "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module",
                    "podtasks", "task-name", "double"]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(argv, env={**common, **extra}, cwd=tmp, check=True, capture_output=True)
            if i:
                times[name].append(time.perf_counter() - t0)
    return times


if __name__ == "__main__":
    sys.exit(main())
