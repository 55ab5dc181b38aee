"""The analyzer's one exception family; the CLI maps each to an exit code and a one-line message."""

from __future__ import annotations

__all__ = ["AnalyzerError", "BackendError", "DecodeError", "NotFound"]


class AnalyzerError(Exception):
    """Base of every error the analyzer raises on purpose. Exit code 2 unless a subclass says otherwise."""

    exit_code = 2


class DecodeError(AnalyzerError):
    """A payload could not be decoded: the message names the input and the position."""


class BackendError(AnalyzerError):
    """A backend could not be reached or answered with an error: the message names the URL (never a secret)."""

    exit_code = 3


class NotFound(AnalyzerError):
    """Nothing matched: the message says what was searched, where, and over which time window."""

    exit_code = 1
