"""Remote-source settings: flags over environment over config file, secrets only from env or files, time windows."""

from __future__ import annotations

import argparse
import logging
import re
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


@pytest.mark.parametrize(
    "text, problem",
    [
        ("url: !!python/object/apply:os.system ['echo pwned']\n", "values are not allowed"),
        ("a: &x http://h\nurl: *x\n", "anchors and aliases"),
    ],
)
def test_config_file_holds_plain_data_only(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(
        AnalyzerError, match=rf"^config file {re.escape(str(f))}: line \d+, column \d+: .*{problem}"
    ):
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


# --- secrets and header values -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["OTEL_FOLD_TOKEN", "OTEL_FOLD_PASSWORD", "OTEL_FOLD_ADMIN_TOKEN"])
def test_secrets_from_the_environment_are_stripped_of_surrounding_whitespace(name: str) -> None:
    cfg = parse(["--user", "bob"], {name: f"  {SECRET}\n"})
    assert getattr(cfg, name.removeprefix("OTEL_FOLD_").lower()) == SECRET


@pytest.mark.parametrize(
    ("argv", "env", "setting"),
    [
        ([], {"OTEL_FOLD_TOKEN": f"{SECRET}\nX-Evil: 1"}, "the token (OTEL_FOLD_TOKEN or --token-file)"),
        (["--tenant", f"team\r\n X-Evil: {SECRET}"], {}, "the tenant (--tenant or OTEL_FOLD_TENANT)"),
        ([], {"OTEL_FOLD_TENANT": f"t\x1b{SECRET}"}, "the tenant (--tenant or OTEL_FOLD_TENANT)"),
        (
            ["--admin-url", "http://admin"],
            {"OTEL_FOLD_ADMIN_TOKEN": f"{SECRET}\x00"},
            "FlyteAdmin's token (OTEL_FOLD_ADMIN_TOKEN or --admin-token-file)",
        ),
        ([], {"OTEL_FOLD_TOKEN": f"{SECRET}€"}, "the token (OTEL_FOLD_TOKEN or --token-file)"),
    ],
)
def test_a_header_value_that_cannot_be_sent_names_the_setting_and_never_the_value(
    argv: list[str], env: dict[str, str], setting: str
) -> None:
    with pytest.raises(AnalyzerError) as e:
        parse(argv, env)
    message = str(e.value)
    assert message.startswith(f"{setting} holds a character that cannot go into an HTTP header")
    assert "the value is not shown" in message
    assert SECRET not in message and "X-Evil" not in message and "\n" not in message


def test_a_token_file_with_a_newline_inside_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{SECRET}\nsecond line\n")
    with pytest.raises(AnalyzerError, match=r"^the token \(OTEL_FOLD_TOKEN or --token-file\) holds") as e:
        parse(["--token-file", str(tmp_path / "token")])
    assert SECRET not in str(e.value)


def test_a_remote_config_built_in_code_is_checked_too() -> None:
    with pytest.raises(AnalyzerError, match="the tenant"):
        C.RemoteConfig(tenant="a\nb")


def test_each_credential_goes_only_to_its_own_host() -> None:
    cfg = C.RemoteConfig(
        url="http://tempo:3200", tenant="team-a", user="u", password="pw-1", admin_token="adm-2"
    )
    backend, admin = cfg.http(), cfg.admin_http()
    assert set(backend.headers) == {"Authorization", "X-Scope-OrgID"} and "adm-2" not in backend.secrets
    assert admin.headers == {"Authorization": "Bearer adm-2"} and admin.secrets == ("adm-2",)
    bearer = C.RemoteConfig(token="tok-3", admin_url="http://admin").admin_http()
    assert bearer.headers == {} and bearer.secrets == ()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout", "0"], "bad value for --timeout: '0'"),
        (["--timeout", "-1"], "bad value for --timeout: '-1'"),
        (["--timeout", "inf"], "bad value for --timeout: 'inf'"),
        (["--max-answer-mib", "0"], "bad value for --max-answer-mib: '0'"),
        (["--max-answer-mib", "lots"], "bad value for --max-answer-mib: 'lots'"),
    ],
)
def test_timeout_and_answer_cap_must_be_positive(argv: list[str], message: str) -> None:
    with pytest.raises(AnalyzerError, match=re.escape(message)):
        parse(argv)


def test_the_answer_cap_reaches_the_transport_of_both_hosts() -> None:
    cfg = parse(["--max-answer-mib", "3", "--admin-url", "http://admin"])
    assert cfg.http().max_bytes == cfg.admin_http().max_bytes == 3 * 2**20
    assert parse([]).http().max_bytes == 256 * 2**20
