"""A Prometheus server of our own on a free loopback port: for tests and the demo.

:func:`find_prometheus` looks for the binary where ``scripts/install-prometheus`` puts
it.  :class:`PrometheusServer` writes a config (1 s scrape and evaluation intervals,
one static scrape job, optional recording rules), starts the server with its storage in
a work directory, and waits on state, never on time alone: ``/-/ready``, then every
target up, then (:meth:`PrometheusServer.wait_for`) whatever query the caller needs.
Every wait has a deadline; the server's output goes to ``prometheus.log`` in the work
directory, whose tail every failure message carries.  :meth:`PrometheusServer.stop`
terminates it (then kills it after a grace period).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import yaml

from ..errors import ProgressiveError

__all__ = ["INSTALL_HINT", "PrometheusError", "PrometheusServer", "find_prometheus"]

INSTALL_HINT: Final = (
    "no prometheus binary found: run scripts/install-prometheus (Debian: apt-get install "
    "prometheus), or set PROGRESSIVE_PROMETHEUS_BIN"
)
_POLL: Final = 0.1


class PrometheusError(ProgressiveError, RuntimeError):
    """The server did not start, or a wait ran out of time (the log tail is included)."""


def find_prometheus() -> str | None:
    """The prometheus binary: $PROGRESSIVE_PROMETHEUS_BIN, the PATH, /usr/bin, or the
    package ``scripts/install-prometheus`` unpacked; None when there is none."""
    cache = Path(os.environ.get("PROGRESSIVE_CACHE") or Path.home() / ".cache" / "progressive")
    for candidate in (
        os.environ.get("PROGRESSIVE_PROMETHEUS_BIN"),
        shutil.which("prometheus"),
        "/usr/bin/prometheus",
        str(cache / "prometheus-deb" / "usr" / "bin" / "prometheus"),
    ):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """One Prometheus process scraping ``targets`` every ``scrape_interval``.

    Args:
        binary: the prometheus executable (see :func:`find_prometheus`).
        workdir: where the config, the rules, the storage and the log go.
        targets: ``host:port`` scrape targets (job ``app``).
        rule_groups: recording-rule groups (``{"name", "rules"}``), evaluated every
            ``scrape_interval``.
    """

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        targets: Sequence[str],
        rule_groups: Sequence[Mapping[str, Any]] = (),
        scrape_interval: str = "1s",
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.targets = list(targets)
        self.rule_groups = [dict(g) for g in rule_groups]
        self.scrape_interval = scrape_interval
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "prometheus.log"
        self._client = httpx.Client(timeout=5.0, trust_env=False)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, message: str) -> PrometheusError:
        return PrometheusError(
            f"{message} (work dir {self.workdir}; last lines of {self.log_path.name}):\n"
            f"{self.log_tail()}"
        )

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
            },
            "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": self.targets}]}],
        }
        if self.rule_groups:
            rules = self.workdir / "rules.yaml"
            rules.write_text(yaml.safe_dump({"groups": self.rule_groups}, sort_keys=False))
            config["rule_files"] = [rules.name]
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it is ready and every target is up.

        Raises:
            PrometheusError: it exited, or did not get there within ``timeout``.
        """
        config = self._write_config()
        deadline = time.monotonic() + timeout
        for _ in range(3):  # another process may grab the free port first
            self.port = _free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--web.enable-lifecycle",
                        "--storage.tsdb.retention.time=1d",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                )
            if self._wait_ready(deadline):
                break
            if "address already in use" not in self.log_tail():
                self.stop()
                raise self._fail(f"prometheus did not become ready within {timeout:.0f}s")
            self.stop()
        else:
            raise self._fail("prometheus found no free port")
        self.wait_for_targets(max(0.1, deadline - time.monotonic()))

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                if self._client.get(f"{self.address}/-/ready").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(_POLL)
        return False

    def wait_for_targets(self, timeout: float = 10.0) -> None:
        """Until every target reports ``health: up``."""

        def up(data: Any) -> bool:
            active = (data or {}).get("activeTargets") or []
            return len(active) == len(self.targets) and all(t.get("health") == "up" for t in active)

        self._wait(lambda: self._get("/api/v1/targets"), up, timeout, lambda: "targets up")

    def _get(self, path: str, **params: str) -> Any:
        response = self._client.get(self.address + path, params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('error')}")
        return body.get("data")

    def query(self, promql: str) -> Any:
        """The ``data`` of an instant query."""
        return self._get("/api/v1/query", query=promql)

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[float]], bool] = lambda values: bool(values),
        timeout: float = 15.0,
    ) -> list[float]:
        """Until the vector ``promql`` returns satisfies ``predicate`` (its values)."""
        last: list[float] = []

        def values() -> list[float]:
            nonlocal last
            data = self.query(promql)
            last = [float(s["value"][1]) for s in data.get("result") or ()]
            return last

        self._wait(values, predicate, timeout, lambda: f"{promql!r} (last values: {last})")
        return last

    def _wait(
        self,
        fetch: Callable[[], Any],
        predicate: Callable[[Any], bool],
        timeout: float,
        what: Callable[[], str],
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise self._fail(f"prometheus exited while waiting for {what()}")
            try:
                if predicate(fetch()):
                    return
            except (httpx.HTTPError, ValueError, KeyError, PrometheusError):
                pass
            if time.monotonic() >= deadline:
                raise self._fail(f"timed out after {timeout:.0f}s waiting for {what()}")
            time.sleep(_POLL)

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=grace)

    def close(self) -> None:
        self.stop()
        self._client.close()

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
