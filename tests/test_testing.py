"""progressive.testing: docs/testing.md's example project runs (its conftest opts in to
the plugin, its tests use the fixtures, settle_until, and the checks), and settle_until
says why when a condition never holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from progressive import CanaryStrategy, Pause, Rollout, SetWeight, client
from progressive._shell import Controller, VirtualClock
from progressive.memory import MemoryCluster
from progressive.testing import settle_until, stored_rollout

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
FILE_BLOCK = re.compile(r"^```python\n# ([\w.]+\.py)\n(.*?)^```", re.S | re.M)

WEB = Rollout(
    name="web",
    selector={"matchLabels": {"app": "web"}},
    template={
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    },
    strategy=CanaryStrategy(steps=[SetWeight(50), Pause("1h")]),
)


def test_the_example_project_of_the_docs_passes(tmp_path: Path) -> None:
    files = FILE_BLOCK.findall(DOC.read_text())
    names = [name for name, _ in files]
    assert names == ["conftest.py", "test_release.py", "test_router.py", "test_provider.py"]
    for name, text in files:
        (tmp_path / name).write_text(text)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    # only the plugins a user of the docs would have: pytest-asyncio, and ours (opted in)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "pytest_asyncio.plugin"]
        + ["-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout


async def test_settle_until_says_why_a_condition_never_held() -> None:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    controller = Controller(cluster, clock=clock)
    await cluster.create(WEB.to_manifest())

    async def paused() -> bool:
        return (await stored_rollout(cluster, "web")).status.phase == "Paused"

    # a first revision is not paused: it becomes Healthy, then nothing more happens
    with pytest.raises(AssertionError, match="nothing more was scheduled"):
        await settle_until(controller, paused)
    assert (await stored_rollout(cluster, "web")).status.phase == "Healthy"
    # an update pauses for an hour: two minutes are not enough
    await client.set_image(cluster, "default", "web", "web", "web:2")
    with pytest.raises(AssertionError, match="120 s of the clock passed"):
        await settle_until(controller, lambda: False, within=120)
    # and a condition that holds returns at once, before any pass
    await settle_until(controller, lambda: True)
