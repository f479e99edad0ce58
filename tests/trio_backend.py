"""Running the in-memory suite under trio as well as asyncio.

The controller, observe, apply, the work queue and the in-memory cluster are anyio
code: they must not assume asyncio.  ``PROGRESSIVE_TEST_BACKEND=trio`` (scripts/test
sets it, with ``-o asyncio_mode=strict``, for a second run of the modules in
:data:`TRIO_SAFE`: ``python -m tests.trio_backend`` prints them) makes every ``async def``
test run under trio, through anyio, instead of pytest-asyncio's event loop; the
modules' async fixtures, if any, would still be asyncio's, so the modules listed take
none.  See docs/kubernetes.md (which parts are trio-safe).
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Final

import anyio
import pytest

#: The environment variable that chooses the backend of ``async def`` tests.
BACKEND_VARIABLE: Final = "PROGRESSIVE_TEST_BACKEND"

#: The in-memory test modules that run under trio too (scripts/test): the controller,
#: its queue, apply and observe, the in-memory cluster, crash recovery, analyses,
#: experiments, routers moved together, the kubectl plugin in memory, the SDK.  Left
#: out: modules whose tests serve HTTP with asyncio's own servers or take async
#: fixtures (analysis isolation and values, notifications, apply's), and the informers'
#: on-demand cache test, whose stand-in API server answers differently under trio's
#: task order (a test fake's gap: it has no list for the second API version).
TRIO_SAFE: Final = (
    "tests/test_trio_backend.py",
    "tests/shell/test_controller.py",
    "tests/shell/test_controller_cli.py",
    "tests/shell/test_controller_queue.py",
    "tests/shell/test_crash_examples.py",
    "tests/shell/test_crash_restart.py",
    "tests/shell/test_events_queue.py",
    "tests/shell/test_experiments.py",
    "tests/shell/test_experiments_crash.py",
    "tests/shell/test_leader_events.py",
    "tests/shell/test_memory_cluster.py",
    "tests/shell/test_owner_index.py",
    "tests/shell/test_ping_pong.py",
    "tests/shell/test_refusals.py",
    "tests/shell/test_step_analysis.py",
    "tests/shell/test_step_plugins.py",
    "tests/shell/test_workqueue.py",
    "tests/routers/test_shell.py",
    "tests/routers/test_crash_routers.py",
    "tests/cli/test_plugin_memory.py",
    "tests/test_sdk.py",
)


def backend() -> str:
    return os.environ.get(BACKEND_VARIABLE, "asyncio")


def run_under_trio(item: pytest.Function) -> bool:
    """Run ``item``'s coroutine under trio; False when it is not a coroutine test."""
    function = item.obj
    if not inspect.iscoroutinefunction(function):
        return False
    arguments: dict[str, Any] = {
        name: item.funcargs[name] for name in item._fixtureinfo.argnames if name in item.funcargs
    }
    anyio.run(functools.partial(function, **arguments), backend="trio")
    return True


if __name__ == "__main__":
    print("\n".join(TRIO_SAFE))
