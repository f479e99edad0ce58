"""docs/getting-started.md works from a fresh clone: its ``sh`` blocks are run in order,
in one bash shell (``set -e``: a command that exits non-zero fails the test), in a copy
of the repository's files, on the in-memory cluster and on the local control plane.

Two blocks are left out, each marked in the page with the reason (``NOT_RUN`` lists
them, and a test keeps the two in step).  Three things are stood in for, by shell
functions defined before the page's commands:

* ``python3 -m venv .venv`` links the test's own virtualenv (``pip install -q -e .``
  is then a no-op): ``scripts/test`` makes one from scratch on every CI run, with the
  same ``pip install -e``;
* ``progressive cluster up`` prints the session's control plane (``tests/conftest.py``,
  brought up by the same code) instead of starting a second one, and ``cluster down``
  leaves it up;
* ``PROGRESSIVE_CACHE`` is a fresh folder (the in-memory cluster's state), whose
  ``control-plane`` is the machine's cache of built binaries, so ``cluster build`` finds
  them as a user's second ``build`` would.

Everything else runs as written.  Every process the shell started is stopped at the end
(its process group), and the objects the page created in the ``default`` namespace are
deleted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from progressive._cluster import LocalControlPlane, cache_root
from progressive._clusters import Ref
from tests.cli.conftest import kube_call

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "getting-started.md"
NOT_RUN_MARK = "<!-- not run by tests/test_getting_started.py:"
#: the first line of each block the test leaves out (the page says why)
NOT_RUN = ("scripts/install-prometheus", "./scripts/test")
SCRIPT_SECONDS = 600

PRELUDE = r"""
set -eo pipefail
python3() {
    if [ "$*" = "-m venv .venv" ]; then ln -s "$TEST_VENV" .venv; else command python3 "$@"; fi
}
pip() {
    [ "$*" = "install -q -e ." ] || { echo "pip $*: not stood in for" >&2; return 1; }
}
progressive() {
    case "$1 $2" in
        "cluster up") echo "export KUBECONFIG=$SESSION_KUBECONFIG" ;;
        "cluster down") echo "(the session's control plane stays up)" >&2 ;;
        *)  # in a subshell (&, $(...)) become the program: `kill %1` then stops it
            if [ "$BASH_SUBSHELL" -gt 0 ]; then exec progressive "$@"; fi
            command progressive "$@" ;;
    esac
}
"""


def blocks(text: str) -> list[tuple[str, bool]]:
    """Each ``sh`` block's text, and whether the page marks it not run."""
    out = []
    last_end = 0
    for match in re.finditer(r"^```sh\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE):
        before = text[last_end : match.start()]
        out.append((match.group(1), NOT_RUN_MARK in before))
        last_end = match.end()
    return out


def test_the_blocks_left_out_are_the_ones_listed() -> None:
    found = blocks(PAGE.read_text())
    assert len(found) >= 8
    left_out = tuple(code.splitlines()[0] for code, skipped in found if skipped)
    assert left_out == NOT_RUN


def _copy_of_the_repository(into: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = into / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    return into


@pytest.mark.kube
def test_every_command_of_the_page_exits_0(
    control_plane: LocalControlPlane, tmp_path: Path
) -> None:
    clone = _copy_of_the_repository(tmp_path / "progressive")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "control-plane").symlink_to(cache_root() / "control-plane")
    script = PRELUDE + "\n".join(
        f'echo "+ block {i} $(date +%s.%N)" >&2\n{code}'
        for i, (code, skipped) in enumerate(blocks(PAGE.read_text()))
        if not skipped
    )
    venv = Path(sys.executable).parent.parent
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "PROGRESSIVE_CACHE": str(cache),
        "TEST_VENV": str(venv),
        "SESSION_KUBECONFIG": str(control_plane.kubeconfig),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    shell = subprocess.Popen(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = shell.communicate(timeout=SCRIPT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGKILL)
        output, _ = shell.communicate()
        pytest.fail(f"the page's commands took more than {SCRIPT_SECONDS}s:\n{output}")
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)  # the controller, should it still run
        except ProcessLookupError:
            pass
        _delete_what_the_page_made(control_plane.kubeconfig)
    assert shell.returncode == 0, output
    # where the page says things happen, they did
    assert "✖ Release 2: Degraded" in output
    assert "exit status 2 (2: Degraded, the update rolled back)" in output
    assert "rollout.progressive.dev/rollouts-demo created" in output
    assert output.count("\nHealthy\n") >= 2  # the two `status` waits ended Healthy


def _delete_what_the_page_made(kubeconfig: Path) -> None:
    async def delete(cluster: Any) -> None:
        for ref in (
            Ref("progressive.dev/v1alpha1", "Rollout", "default", "rollouts-demo"),
            Ref("v1", "Service", "default", "rollouts-demo"),
        ):
            if await cluster.get(ref) is not None:
                await cluster.delete(ref)

    kube_call(kubeconfig, delete)
