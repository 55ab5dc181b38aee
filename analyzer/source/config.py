"""Settings of the remote sources from flags, the environment (OTEL_FOLD_*) or a YAML file, in that precedence.

Secrets (token, password) come only from the environment or from a file named by a flag, a variable or the
config file (``token_file``), never from a flag's value, and never appear in a repr, a log line or a message.

The transport (`analyzer.source.http`: ssl, http.client, urllib) and the YAML reader are imported where a
RemoteConfig is built or a config file read, not with this module: the command line adds these flags to
every subcommand, and its `--help` need not wait for them.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.errors import AnalyzerError
from flyte_otel import semconv
from flyte_otel.paths import CONFIG_ENV, default_config_file

if TYPE_CHECKING:
    from analyzer.source.http import HttpConfig

__all__ = [
    "DEFAULT_MAX_ANSWER_MIB",
    "DEFAULT_WINDOW_NS",
    "SETTINGS",
    "RemoteConfig",
    "add_arguments",
    "configured_backend",
    "from_args",
    "parse_duration_ns",
    "parse_time_ns",
    "rfc3339",
]

# The search window when none is given (24 h), and the config file read when present.
DEFAULT_WINDOW_NS = 24 * 3600 * 10**9
DEFAULT_MAX_ANSWER_MIB = 256  # the largest answer body read by default (--max-answer-mib)
_CONFIG_DEPTH = 4  # a config file is one mapping of settings
_NS = 10**9


@dataclass(frozen=True)
class RemoteConfig:
    """Everything a remote source needs; built by `from_args` (or directly in code and tests)."""

    backend: str | None = None
    url: str | None = None
    start_ns: int = 0
    end_ns: int = 0
    tenant: str | None = None  # Tempo / Mimir-style multi-tenancy: X-Scope-OrgID
    user: str | None = None
    token: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    insecure: bool = False
    timeout_s: float = 30.0  # one attempt, from connecting to the last byte
    max_answer_mib: int = DEFAULT_MAX_ANSWER_MIB  # the largest answer body accepted
    retries: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0
    limit: int = 500  # first search limit; doubled while a search comes back full
    max_limit: int = 20000  # beyond this a full search is reported, never silently cut
    concurrency: int = 8
    service: str = semconv.SERVICE_PROPELLER  # Jaeger searches need a service
    jaeger_api: str = "auto"  # auto | v3 | v1 (gRPC is chosen by a grpc:// or grpcs:// URL)
    admin_url: str | None = None  # FlyteAdmin's REST gateway, for node segments of upstream-dialect traces
    admin_config: str | None = None  # a Flyte config file (or "auto") for flytekit's gRPC client instead
    admin_token: str | None = field(default=None, repr=False)  # FlyteAdmin's own bearer token (gateway)
    admin_ca_file: str | None = None  # PEM bundle for FlyteAdmin's certificate (not the backend's)
    project: str | None = None  # FlyteAdmin execution id = project/domain/name
    domain: str | None = None
    admin_depth: int = 10  # FlyteAdmin span tree depth

    def __post_init__(self) -> None:
        from analyzer.source.http import check_header_value

        # Checked here, where the setting can still be named: sent as they are, a newline would start another
        # header (and http.client's ValueError would quote the value, token and all).
        for name, setting in _HEADER_SETTINGS.items():
            value = getattr(self, name)
            if value is not None:
                check_header_value(value, setting)

    def http(self) -> HttpConfig:
        """The transport settings, with auth and tenant headers."""
        headers: dict[str, str] = {}
        secrets: list[str] = []
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
            secrets.append(self.token)
        elif self.user is not None and self.password is not None:
            basic = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
            secrets += [self.password, basic]
        if self.tenant:
            headers["X-Scope-OrgID"] = self.tenant
        return self._transport(self.ca_file, self.insecure, headers, secrets)

    def admin_http(self) -> HttpConfig:
        """FlyteAdmin's transport settings: its own token and CA file, never the trace backend's credentials
        or tenant (they were given for another host)."""
        token = self.admin_token
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return self._transport(self.admin_ca_file, False, auth, [token] if token else [])

    def _transport(
        self, ca_file: str | None, insecure: bool, headers: dict[str, str], secrets: list[str]
    ) -> HttpConfig:
        from analyzer.source.http import HttpConfig

        return HttpConfig(
            timeout_s=self.timeout_s,
            max_bytes=self.max_answer_mib * 2**20,
            retries=self.retries,
            backoff_s=self.backoff_s,
            backoff_max_s=self.backoff_max_s,
            ca_file=ca_file,
            insecure=insecure,
            headers=headers,
            secrets=tuple(secrets),
        )

    def window(self) -> str:
        """The search window as two RFC 3339 UTC times, for messages."""
        return f"{rfc3339(self.start_ns)} and {rfc3339(self.end_ns)}"


# The settings sent as header values as they are (basic auth is base64, so any user and password can go), and
# how a user names each.
_HEADER_SETTINGS = {
    "token": "the token (OTEL_FOLD_TOKEN or --token-file)",
    "tenant": "the tenant (--tenant or OTEL_FOLD_TENANT)",
    "admin_token": "FlyteAdmin's token (OTEL_FOLD_ADMIN_TOKEN or --admin-token-file)",
}


@dataclass(frozen=True)
class _Setting:
    name: str  # RemoteConfig field and YAML key
    flag: str | None  # None: no flag (secrets)
    metavar: str
    parse: Callable[[str], Any]
    help: str


def _bool(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def _positive(parse: Callable[[str], float]) -> Callable[[str], Any]:
    def checked(text: str) -> float:
        value = parse(text)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(text)
        return value

    return checked


def _secret(text: str) -> str:
    # A secret from a file or a Kubernetes secret often ends in a newline: never part of the token.
    return text.strip()


# One row per setting: the flag, the variable OTEL_FOLD_<NAME upper>, the YAML key <name>.
SETTINGS: tuple[_Setting, ...] = (
    _Setting("backend", "--backend", "NAME", str, "where traces live (OTEL_FOLD_BACKEND)"),
    _Setting(
        "url",
        "--url",
        "URL",
        str,
        "backend base URL, e.g. http://tempo:3200, grpc://jaeger:16685 (OTEL_FOLD_URL)",
    ),
    _Setting("tenant", "--tenant", "ID", str, "tenant sent as X-Scope-OrgID (OTEL_FOLD_TENANT)"),
    _Setting("user", "--user", "NAME", str, "basic-auth user; the password from OTEL_FOLD_PASSWORD(_FILE)"),
    _Setting("token", None, "", _secret, ""),
    _Setting("password", None, "", _secret, ""),
    _Setting("token_file", "--token-file", "PATH", str, "file holding a bearer token (or OTEL_FOLD_TOKEN)"),
    _Setting("password_file", "--password-file", "PATH", str, "file holding the basic-auth password"),
    _Setting(
        "ca_file", "--ca-file", "PATH", str, "PEM bundle of the CA that signed the backend's certificate"
    ),
    _Setting("insecure", "--insecure", "", _bool, "do not verify the backend's TLS certificate"),
    _Setting(
        "timeout_s",
        "--timeout",
        "SECONDS",
        _positive(float),
        "seconds one attempt may take, from connecting to the answer's last byte (default 30)",
    ),
    _Setting(
        "max_answer_mib",
        "--max-answer-mib",
        "MIB",
        _positive(int),
        f"largest answer accepted, in MiB; a longer one is an error (default {DEFAULT_MAX_ANSWER_MIB})",
    ),
    _Setting("retries", "--retries", "N", int, "further attempts after a transient failure (default 4)"),
    _Setting(
        "backoff_s",
        "--backoff",
        "SECONDS",
        float,
        "first retry delay in seconds, doubled per attempt (default 0.5)",
    ),
    _Setting("limit", "--limit", "N", int, "traces asked per search; doubled while a search comes back full"),
    _Setting("max_limit", "--max-limit", "N", int, "stop doubling the search limit here, and warn"),
    _Setting("concurrency", "--concurrency", "N", int, "traces fetched at once (default 8)"),
    _Setting("service", "--service", "NAME", str, "service to search in Jaeger (default flytepropeller)"),
    _Setting(
        "jaeger_api",
        "--jaeger-api",
        "API",
        str,
        "auto | v3 | v1 (a grpc:// URL selects the api_v3 gRPC service)",
    ),
    _Setting(
        "admin_config",
        "--admin-config",
        "FILE",
        str,
        "Flyte config (~/.flyte/config.yaml, or 'auto': FLYTECTL_CONFIG, then that) for FlyteAdmin over "
        "flytekit's gRPC client and its login; needs flytekit",
    ),
    _Setting(
        "admin_url",
        "--admin-url",
        "URL",
        str,
        "FlyteAdmin's REST gateway, for node segments of upstream traces",
    ),
    _Setting("admin_token", None, "", _secret, ""),
    _Setting(
        "admin_token_file",
        "--admin-token-file",
        "PATH",
        str,
        "file holding FlyteAdmin's token (or OTEL_FOLD_ADMIN_TOKEN)",
    ),
    _Setting(
        "admin_ca_file",
        "--admin-ca-file",
        "PATH",
        str,
        "PEM bundle of the CA that signed FlyteAdmin's certificate",
    ),
    _Setting("project", "--project", "NAME", str, "Flyte project of the execution (FlyteAdmin metrics)"),
    _Setting("domain", "--domain", "NAME", str, "Flyte domain of the execution (FlyteAdmin metrics)"),
    _Setting(
        "admin_depth", "--admin-depth", "N", int, "depth of FlyteAdmin's execution span tree (default 10)"
    ),
)
_TIME_SETTINGS = ("since", "start", "end")


def add_arguments(parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """Add the remote-source flags (those in `skip` are left to whoever already defines them)."""
    group = parser.add_argument_group("remote backends (flags > OTEL_FOLD_* environment > --config file)")
    group.add_argument(
        "--config",
        default=None,
        help=f"YAML settings file ({CONFIG_ENV}, default $XDG_CONFIG_HOME/otel-fold/config.yaml, else ~/.config/otel-fold/config.yaml)",
    )
    for s in SETTINGS:
        if s.flag is None or s.flag in skip:
            continue
        if s.parse is _bool:
            group.add_argument(
                s.flag, dest=s.name, action="store_const", const="true", default=None, help=s.help
            )
        else:
            group.add_argument(s.flag, dest=s.name, metavar=s.metavar, default=None, help=s.help)
    for name, help_ in (
        ("since", "search the last DURATION, e.g. 90m, 6h, 2d (default 24h)"),
        ("start", "window start: RFC 3339 time or unix seconds"),
        ("end", "window end: RFC 3339 time or unix seconds (default now)"),
    ):
        if f"--{name}" not in skip:
            group.add_argument(f"--{name}", dest=name, default=None, help=help_)


def configured_backend(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> str | None:
    """The backend named by OTEL_FOLD_BACKEND or the config file (the --backend flag is read by the caller)."""
    env = os.environ if environ is None else environ
    found = env.get("OTEL_FOLD_BACKEND") or _config_file_values(args, env).get("backend")
    return None if found is None else str(found)


def from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None, *, now_ns: int | None = None
) -> RemoteConfig:
    """Merge flags, environment and config file into a RemoteConfig (flags win, then environment, then file)."""
    env = os.environ if environ is None else environ
    file_values = _config_file_values(args, env)

    def pick(name: str, *, flag: bool = True, from_file: bool = True) -> str | None:
        value = getattr(args, name, None) if flag else None
        if value is None:
            value = env.get(f"OTEL_FOLD_{name.upper()}")
        if value is None and from_file:
            value = file_values.get(name)
        return None if value is None else str(value)

    values: dict[str, Any] = {}
    for s in SETTINGS:
        is_secret = s.flag is None
        raw = pick(s.name, flag=not is_secret, from_file=not is_secret)
        if raw is None:
            continue
        try:
            values[s.name] = s.parse(raw)
        except ValueError:
            where = s.flag or f"OTEL_FOLD_{s.name.upper()}"
            raise AnalyzerError(f"bad value for {where}: {raw!r}") from None
    for key in ("token", "password", "admin_token"):
        path = values.pop(f"{key}_file", None)
        if key not in values and path:
            values[key] = _read_secret(path, key)
    now = time.time_ns() if now_ns is None else now_ns
    values["start_ns"], values["end_ns"] = _window(pick("since"), pick("start"), pick("end"), now)
    known = {f.name for f in fields(RemoteConfig)}
    return RemoteConfig(**{k: v for k, v in values.items() if k in known})


def parse_time_ns(text: str) -> int:
    """RFC 3339 / ISO 8601 (UTC when no offset) or unix seconds -> ns since the epoch."""
    text = text.strip()
    try:
        return int(round(float(text) * _NS))
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise AnalyzerError(
            f"bad time {text!r}: use RFC 3339 (2026-01-31T12:00:00Z) or unix seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * _NS + dt.microsecond * 1000


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_NS = {"ms": 10**6, "s": _NS, "m": 60 * _NS, "h": 3600 * _NS, "d": 86400 * _NS, "w": 7 * 86400 * _NS}


def parse_duration_ns(text: str) -> int:
    """'90m', '1h30m', '2d' -> ns."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise AnalyzerError(f"bad duration {text!r}: use e.g. 90m, 6h, 2d")
    return int(sum(float(n) * _UNIT_NS[u] for n, u in parts))


def rfc3339(ns: int) -> str:
    """ns since the epoch -> RFC 3339 UTC with nanoseconds trimmed of trailing zeros ('...Z')."""
    seconds, frac = divmod(ns, _NS)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return stamp + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


def _window(since: str | None, start: str | None, end: str | None, now_ns: int) -> tuple[int, int]:
    if since is not None and (start is not None or end is not None):
        raise AnalyzerError("--since cannot be combined with --start/--end")
    end_ns = parse_time_ns(end) if end is not None else now_ns
    if since is not None:
        start_ns = end_ns - parse_duration_ns(since)
    elif start is not None:
        start_ns = parse_time_ns(start)
    else:
        start_ns = end_ns - DEFAULT_WINDOW_NS
    if start_ns >= end_ns:
        raise AnalyzerError(
            f"empty time window: start {rfc3339(start_ns)} is not before end {rfc3339(end_ns)}"
        )
    return start_ns, end_ns


def _config_file_values(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """The settings file's values: the one --config or OTEL_FOLD_CONFIG names (it must exist), else the XDG
    default's, if there is one."""
    named = getattr(args, "config", None) or env.get(CONFIG_ENV)
    return _read_config_file(Path(named) if named else default_config_file(env), bool(named))


def _read_config_file(path: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise AnalyzerError(f"config file {path} does not exist")
        return {}
    from analyzer import plain_yaml  # here: yaml is loaded only when there is a config file to read

    try:
        # plain data only, aliases refused, errors on one line (analyzer/plain_yaml.py)
        data = plain_yaml.load(
            path.read_text(encoding="utf-8"), f"config file {path}", max_depth=_CONFIG_DEPTH
        )
    except (OSError, UnicodeDecodeError) as e:
        raise AnalyzerError(f"cannot read config file {path}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AnalyzerError(f"config file {path}: expected a mapping of settings, got {type(data).__name__}")
    allowed = {s.name for s in SETTINGS if s.flag is not None} | set(_TIME_SETTINGS)
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        # A secret written into a shared file is refused by name, without echoing its value.
        raise AnalyzerError(
            f"config file {path}: unknown or forbidden keys {', '.join(unknown)} "
            f"(secrets go in OTEL_FOLD_TOKEN / OTEL_FOLD_PASSWORD / OTEL_FOLD_ADMIN_TOKEN or token_file / "
            f"password_file / admin_token_file)"
        )
    return {str(k): v for k, v in data.items()}


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as e:
        raise AnalyzerError(f"cannot read the {what} file {path}: {e.strerror or type(e).__name__}") from None
    except UnicodeDecodeError:
        raise AnalyzerError(f"cannot read the {what} file {path}: not UTF-8 text") from None
