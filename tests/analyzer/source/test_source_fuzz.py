"""A seeded fuzz of hostile Tempo answers through the real client and `otel-fold <id> --backend tempo`.

Every case must end in output (exit 0) or a one-line error (exit 1-3): never a traceback, never the token in
what is printed or logged, never a request outside Tempo's routes, and credentials only on the first hop.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from source_loopback import Loopback, Reply, json_bytes, round_traces, tempo_json

from analyzer.cli import main

SEED = int(os.environ.get("OTEL_FOLD_FUZZ_SEED", "17"))  # another seed explores further
CASES = int(os.environ.get("OTEL_FOLD_FUZZ_CASES", "160"))
TOKEN = "fuzz-token-5150"
WINDOW = ["--start", "2025-12-31T00:00:00Z", "--end", "2026-01-02T00:00:00Z"]
ARGS = ["--retries", "0", "--timeout", "5", "--max-answer-mib", "1", "--max-limit", "64"]
# Where the client's own requests go (with the token): Tempo's routes, with a checked id.
ROUTES = re.compile(r"/api/search|/api/v2/traces/[0-9a-f]{32}|/api/traces/[0-9a-f]{32}")
# Where a hostile backend's redirects to its own origin point (followed, without the token), besides its routes.
REDIRECTED = {"/moved", "/../../admin"}

HOSTILE_IDS: list[Any] = [
    "../../admin/config", "..%2F..%2Fadmin", "ab/../../x", "?x=1", "#frag", "ab\r\nX-Evil: 1", "\x1b]0;pwn\x07",
    "ab" * 17, "", " ", "0x12", "１２", "ab cd", ".", "..", 12, None, {"a": 1}, [1], 1e308, True,
]  # fmt: skip
LOCATIONS = [
    "/moved", "/api/search", "//evil.example/x", "http://localhost:{port}/api/search", "http://127.0.0.1:1/",
    "https://127.0.0.1:{port}/api/search", "file:///etc/passwd", "javascript:alert(1)", "ftp://127.0.0.1/x",
    "http://127.0.0.1:{port}/../../admin", "", "http://[::1", "\r\nX-Evil: 1",
]  # fmt: skip


def junk(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))


def search_body(rng: random.Random, good: list[str]) -> bytes:
    """A search answer: real ids mixed with hostile ones, in shapes right and wrong."""
    ids = rng.sample(good, rng.randrange(len(good) + 1)) + [
        rng.choice(HOSTILE_IDS) for _ in range(rng.randrange(4))
    ]
    shapes: list[Callable[[], Any]] = [
        lambda: {"traces": [{"traceID": i} for i in ids], "metrics": {}},
        lambda: {"traces": [{"traceID": i} for i in ids], "metrics": {"completedJobs": 1, "totalJobs": "x"}},
        lambda: {"traces": [{"traceID": i} for i in ids], "metrics": []},
        lambda: {"traces": [{"id": i} for i in ids]},
        lambda: {"traces": ids},
        lambda: {"traces": 5},
        lambda: [ids],
        lambda: "traces",
    ]
    return json.dumps((shapes[0] if rng.random() < 0.7 else rng.choice(shapes))()).encode()


def hostile(rng: random.Random, body: bytes, port: int) -> Reply:
    """`body` as a well-behaved answer, or one of the ways a backend or a proxy in front of it misbehaves."""
    if rng.random() < 0.7:  # most answers behave, so that a case gets past the search
        return Reply(body=body)
    location = rng.choice(LOCATIONS).format(port=port)
    ways: list[Callable[[], Reply]] = [
        lambda: Reply(body=body[: rng.randrange(len(body) + 1)]),
        lambda: Reply(body=body, truncate_to=rng.randrange(len(body) + 1)),
        lambda: Reply(body=junk(rng), content_type=rng.choice(["application/json", "application/protobuf"])),
        lambda: Reply(body=b"x" * 65536, endless=True),
        lambda: Reply(body=b"<html>login</html>", content_type="text/html"),
        lambda: Reply(rng.choice([301, 302, 303, 307, 308]), headers={"Location": location}),
        lambda: Reply(rng.choice([400, 401, 403, 404, 418, 500, 502, 503]), f"echo Bearer {TOKEN}".encode()),
        lambda: Reply(429, headers={"Retry-After": rng.choice(["-1", "soon", "99999999999", "1e9"])}),
        lambda: Reply(200, body, content_type="\x1b[2J" + rng.choice(["text/html", "application/json"])),
    ]
    return rng.choice(ways)()


def install(server: Loopback, rng: random.Random, traces: dict[str, list[Any]]) -> None:
    server.routes.clear()
    server.requests.clear()
    port = server.httpd.server_address[1]
    good = [t.lstrip("0") for t in traces]
    server.on("/api/search", lambda _: hostile(rng, search_body(rng, good), port))
    server.on("/moved", lambda _: hostile(rng, search_body(rng, good), port))
    bodies = {t: json_bytes({"trace": tempo_json(spans)}) for t, spans in traces.items()}
    by_path: Callable[[str], bytes] = lambda p: bodies.get(p.rsplit("/", 1)[1], b"trace not found")  # noqa: E731
    server.on("/api/v2/traces/*", lambda req: hostile(rng, by_path(req.path), port))
    server.on("/api/traces/*", lambda req: hostile(rng, by_path(req.path), port))


@pytest.mark.timeout(120)
def test_hostile_tempo_answers_end_in_output_or_one_line_error(
    server: Loopback,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_FOLD_TOKEN", TOKEN)
    rng = random.Random(SEED)
    traces = round_traces({"exec-f": 3})
    outcomes: dict[int, int] = {}
    for case in range(CASES):
        install(server, rng, traces)
        caplog.clear()
        code = main(["exec-f", "--backend", "tempo", "--url", server.url, *WINDOW, *ARGS])
        out, err = capsys.readouterr()
        where = f"case {case} (seed {SEED}): exit {code}, stderr {err!r}"
        outcomes[code] = outcomes.get(code, 0) + 1
        assert code in (0, 1, 2, 3), where
        assert (out.strip() != "") if code == 0 else (err.strip() != ""), where
        assert all(line.startswith("otel-fold: ") for line in err.splitlines()), where
        assert "Traceback" not in err and not any(r.exc_info for r in caplog.records), where
        assert TOKEN not in out + err + caplog.text, where
        for r in server.requests:
            if "authorization" in r.headers:
                assert ROUTES.fullmatch(r.path) and r.headers["authorization"] == f"Bearer {TOKEN}", where
            else:
                assert r.path in REDIRECTED or ROUTES.fullmatch(r.path), f"{where}: asked {r.path!r}"
    print(f"fuzz: {CASES} cases, exit codes {dict(sorted(outcomes.items()))}")
    assert len(outcomes) >= 3  # the fuzz reached successes and several kinds of failure
