"""Testing your extensions and your rollouts: conformance checks, fixtures, helpers.

* :func:`check_router` and :func:`check_provider` hold a traffic router or a metric
  provider (yours, or a built-in one) to the promises every one makes; the project runs
  them over each of its own.  They raise ``AssertionError`` naming the promise broken,
  so they work in any test runner.  :class:`ObjectStore` is the pure object store a
  router is checked on.
* :func:`settle_until` runs the real controller in virtual time until a condition holds;
  :func:`stored_rollout` reads a Rollout as stored, status included, for such a
  condition.
* A pytest plugin, opt-in (it is not loaded for every user of the package): write
  ``pytest_plugins = ["progressive.testing"]`` in your top ``conftest.py`` to get the
  fixtures ``virtual_clock``, ``memory_cluster``, ``scripted_metrics`` and
  ``controller``.

See docs/testing.md ("Testing your extensions").
"""

from __future__ import annotations

from ._controller import settle_until, stored_rollout
from ._providers import check_provider
from ._routers import ObjectStore, check_router

__all__ = [
    "ObjectStore",
    "check_provider",
    "check_router",
    "controller",
    "memory_cluster",
    "scripted_metrics",
    "settle_until",
    "stored_rollout",
    "virtual_clock",
]

try:
    import pytest as _pytest  # noqa: F401  (the fixtures need it; the checks do not)
except ImportError:  # pragma: no cover - pytest is how the fixtures are used
    pass
else:
    from ._fixtures import controller, memory_cluster, scripted_metrics, virtual_clock
