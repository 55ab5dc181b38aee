"""Tiny tasks shared by the portfolio workflows: their runtime is negligible, so Flyte's overhead dominates."""

from __future__ import annotations

import os

from flytekit import task
from flytekit.exceptions.user import FlyteRecoverableException


@task
def inc(x: int) -> int:
    """Return x + 1."""
    return x + 1


@task
def square(x: int) -> int:
    """Return x squared."""
    return x * x


@task
def total(xs: list[int]) -> int:
    """Sum a list."""
    return sum(xs)


@task
def span(n: int) -> list[int]:
    """The list 0..n-1 (the input of a fan-out)."""
    return list(range(n))


@task(cache=True, cache_version="1")
def cached_inc(x: int) -> int:
    """inc, cached by the data catalog: a second execution with the same input is a cache hit."""
    return x + 1


@task(retries=3)
def flaky_inc(x: int, fail_attempts: int) -> int:
    """inc that fails with a recoverable error on its first `fail_attempts` attempts on a cluster.

    FlytePropeller sets FLYTE_ATTEMPT_NUMBER (0-based) in the pod; a local run has none and counts as the
    attempt that succeeds.
    """
    attempt = int(os.environ.get("FLYTE_ATTEMPT_NUMBER", fail_attempts))
    if attempt < fail_attempts:
        raise FlyteRecoverableException(f"flaky_inc: planned failure on attempt {attempt}")
    return x + 1
