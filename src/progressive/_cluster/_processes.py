"""Processes of the control plane: free loopback ports, starting a component detached
with its log in a file, recognising it again by pid and start time, stopping exactly
those (SIGTERM, a bounded wait, then SIGKILL), and the one bounded wait loop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import attrs

from ..errors import ControlPlaneError

__all__ = [
    "ProcessRecord",
    "free_ports",
    "is_running",
    "spawn",
    "stop_all",
    "tail",
    "wait_until",
]

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (held open together while
    they are picked, so they differ; a process may still take one before we do)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks after boot): with the pid
    it names one process, even once the pid is reused.  None if the process is gone
    or a zombie (dead, waiting for its parent to read its status)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@attrs.frozen
class ProcessRecord:
    """One started component, as the state file keeps it."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "argv": list(self.argv),
            "log": self.log,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProcessRecord:
        argv = data["argv"]
        assert isinstance(argv, list)
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_ticks=int(str(data["start_ticks"])),
            argv=tuple(str(arg) for arg in argv),
            log=str(data["log"]),
        )


def is_running(record: ProcessRecord) -> bool:
    """The very process that was started is alive (not a zombie, not a reused pid)."""
    return _start_ticks(record.pid) == record.start_ticks


def spawn(
    name: str, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``argv`` in a session of its own (it outlives the caller, and a terminal's
    Ctrl-C does not reach it), stdin closed, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    ticks = _start_ticks(proc.pid)
    if ticks is None:
        proc.wait()
        raise ControlPlaneError(f"{name} exited at once ({proc.returncode}); see {log}")
    return proc, ProcessRecord(name, proc.pid, ticks, tuple(argv), str(log))


def stop_all(
    records: Sequence[ProcessRecord],
    *,
    children: Mapping[int, subprocess.Popen[bytes]] | None = None,
    timeout: float = 15.0,
) -> list[str]:
    """Stop the recorded processes, last started first: SIGTERM to each, up to
    ``timeout`` seconds for each to exit, then SIGKILL.  ``children`` are the Popen
    objects of the ones this process started, reaped here.  Returns the names that
    needed SIGKILL."""
    children = children or {}
    killed: list[str] = []
    for record in reversed(records):
        if not is_running(record):
            _reap(children.get(record.pid))
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)
        if not _wait_gone(record, children.get(record.pid), timeout):
            killed.append(record.name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            if not _wait_gone(record, children.get(record.pid), timeout):
                raise ControlPlaneError(f"{record.name} (pid {record.pid}) survived SIGKILL")
    return killed


def _reap(child: subprocess.Popen[bytes] | None) -> None:
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)


def _wait_gone(
    record: ProcessRecord, child: subprocess.Popen[bytes] | None, timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.1)
        if not is_running(record):
            _reap(child)
            return True
        if child is None:
            time.sleep(0.1)
    return False


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.25,
    check: Callable[[], None] | None = None,
) -> T:
    """Call ``probe`` until it returns something other than None, at most ``timeout``
    seconds (and so at most ``timeout / interval + 1`` calls).  ``check`` runs before
    each call and raises to give up early (a component died)."""
    deadline = time.monotonic() + timeout
    attempts = int(timeout / interval) + 1
    last_error: Exception | None = None
    for _ in range(attempts):
        if check is not None:
            check()
        try:
            result = probe()
        except ControlPlaneError:
            raise
        except Exception as exc:  # the thing waited for is not answering yet
            last_error = exc
            result = None
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * lines))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])
