"""Remote-source settings: flags over environment over config file, secrets only from env or files, time windows."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from analyzer.errors import AnalyzerError
from analyzer.source import config as C

NOW = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
SECRET = "tok-5ecret-zz"


def parse(argv: list[str], env: dict[str, str] | None = None) -> C.RemoteConfig:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend")
    C.add_arguments(parser, skip=("--backend",))
    return C.from_args(parser.parse_args(argv), env or {}, now_ns=NOW)


def test_default_window_is_the_last_24_hours() -> None:
    cfg = parse([])
    assert (cfg.start_ns, cfg.end_ns) == (NOW - 24 * 3600 * 10**9, NOW)


def test_since_counts_back_from_now() -> None:
    cfg = parse(["--since", "1h30m"])
    assert cfg.end_ns - cfg.start_ns == 90 * 60 * 10**9 and cfg.end_ns == NOW


def test_start_and_end_accept_rfc3339_and_unix_seconds() -> None:
    cfg = parse(["--start", "2025-12-31T23:00:00.5Z", "--end", "1767225600"])
    assert cfg.start_ns == NOW - 3600 * 10**9 + 500_000_000 and cfg.end_ns == NOW


def test_naive_times_are_utc() -> None:
    assert C.parse_time_ns("2026-01-01T00:00:00") == NOW


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "6h", "--start", "1"], "cannot be combined"),
        (["--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"], "empty time window"),
        (["--since", "six hours"], "bad duration"),
        (["--start", "yesterday"], "bad time"),
        (["--limit", "many"], "bad value for --limit"),
    ],
)
def test_bad_settings_are_clear_errors(argv: list[str], message: str) -> None:
    with pytest.raises(AnalyzerError, match=message):
        parse(argv)


def test_flags_beat_environment_beat_config_file(tmp_path: Path) -> None:
    f = tmp_path / "otel-fold.yaml"
    f.write_text("url: http://from-file:3200\ntenant: file-tenant\nlimit: 7\nconcurrency: 3\n")
    env = {
        "OTEL_FOLD_CONFIG": str(f),
        "OTEL_FOLD_URL": "http://from-env:3200",
        "OTEL_FOLD_TENANT": "env-tenant",
    }
    cfg = parse(["--tenant", "flag-tenant"], env)
    assert cfg.url == "http://from-env:3200"
    assert cfg.tenant == "flag-tenant"
    assert (cfg.limit, cfg.concurrency) == (7, 3)


def test_backend_comes_from_the_environment() -> None:
    assert parse([], {"OTEL_FOLD_BACKEND": "tempo"}).backend == "tempo"


def test_insecure_and_ca_file_reach_the_transport() -> None:
    cfg = parse(
        ["--insecure", "--ca-file", "/etc/ca.pem", "--timeout", "2.5", "--retries", "1", "--backoff", "0"]
    )
    http = cfg.http()
    assert (http.insecure, http.ca_file, http.timeout_s, http.retries, http.backoff_s) == (
        True,
        "/etc/ca.pem",
        2.5,
        1,
        0,
    )


def test_token_from_the_environment_is_sent_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        cfg = parse(["--tenant", "t"], {"OTEL_FOLD_TOKEN": SECRET})
    http = cfg.http()
    assert http.headers["Authorization"] == f"Bearer {SECRET}" and http.headers["X-Scope-OrgID"] == "t"
    assert SECRET not in repr(cfg) and SECRET not in repr(http) and SECRET not in caplog.text
    assert SECRET in http.secrets


def test_token_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(SECRET + "\n")
    assert parse(["--token-file", str(tmp_path / "token")]).token == SECRET


def test_password_file_named_in_the_config_file_gives_basic_auth(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("hunter2")
    f = tmp_path / "c.yaml"
    f.write_text(f"user: bob\npassword_file: {tmp_path / 'pw'}\n")
    http = parse(["--config", str(f)]).http()
    assert http.headers["Authorization"] == "Basic Ym9iOmh1bnRlcjI="  # base64("bob:hunter2")
    assert "hunter2" in http.secrets


def test_there_is_no_flag_that_takes_a_secret_value() -> None:
    parser = argparse.ArgumentParser()
    C.add_arguments(parser)
    flags = {o for a in parser._actions for o in a.option_strings}
    assert "--token" not in flags and "--password" not in flags
    assert {"--token-file", "--password-file"} <= flags


def test_a_secret_written_in_the_config_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(f"url: http://x\ntoken: {SECRET}\n")
    with pytest.raises(AnalyzerError) as e:
        parse(["--config", str(f)])
    assert "token" in str(e.value) and str(f) in str(e.value) and SECRET not in str(e.value)


def test_config_file_is_read_with_safe_load(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("url: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(AnalyzerError, match="cannot read config file"):
        parse(["--config", str(f)])


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(AnalyzerError, match="does not exist"):
        parse(["--config", str(tmp_path / "nope.yaml")])


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AnalyzerError, match="cannot read the token file"):
        parse(["--token-file", str(tmp_path / "nope")])


def test_rfc3339_keeps_nanoseconds_and_trims_zeros() -> None:
    assert C.rfc3339(NOW) == "2026-01-01T00:00:00Z"
    assert C.rfc3339(NOW + 1) == "2026-01-01T00:00:00.000000001Z"
    assert C.rfc3339(NOW + 250_000_000) == "2026-01-01T00:00:00.25Z"


def test_durations() -> None:
    assert C.parse_duration_ns("2d") == 2 * 86400 * 10**9
    assert C.parse_duration_ns("1h 30m") == 5400 * 10**9
    assert C.parse_duration_ns("250ms") == 250 * 10**6
