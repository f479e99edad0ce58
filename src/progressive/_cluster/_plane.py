"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok, started from the cached binaries with
token authentication and RBAC; kwok plays the kubelets of fake Nodes, so ReplicaSets
get Pods that turn Ready.

Every component logs to ``DIR/<component>.log``; ``DIR/state.json`` records the pids
(with their start times) and ports, so that :meth:`LocalControlPlane.down`, from this
process or another, stops exactly what :meth:`LocalControlPlane.up` started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import httpx

from ..errors import ControlPlaneError
from ._build import Binaries, Versions, cached_binaries, ensure_binaries
from ._kwok import KWOK_ANNOTATION, fake_node, stages_config
from ._processes import ProcessRecord, free_ports, is_running, spawn, stop_all, tail, wait_until
from ._rest import Kubeconfig, KubeRest

__all__ = ["COMPONENTS", "ControlPlaneState", "LocalControlPlane"]

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
_PORTS = ("etcd", "etcd-peer", *COMPONENTS[1:])
_STATE = "state.json"
# Service ClusterIPs and the Pod IPs kwok hands out: 65,534 of each.
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
# What up() writes into DIR and removes again before starting afresh.
_OWNED = ("etcd", "pki", "kubeconfig", "tokens.csv", "sa.key", "stages.yaml", _STATE)

Progress = Callable[[str], None]


@attrs.frozen
class ControlPlaneState:
    """What ``state.json`` holds: enough for another process to use or stop the plane."""

    directory: Path
    versions: Versions
    server: str
    kubeconfig: Path
    ports: dict[str, int]
    processes: tuple[ProcessRecord, ...]

    def save(self) -> None:
        data = {
            "versions": self.versions.as_dict(),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": self.ports,
            "processes": [p.to_json() for p in self.processes],
        }
        target = self.directory / _STATE
        scratch = target.with_suffix(".tmp")
        scratch.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        scratch.replace(target)  # never a half-written state file

    @classmethod
    def load(cls, directory: Path) -> ControlPlaneState | None:
        path = directory / _STATE
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            directory=directory,
            versions=Versions(**data["versions"]),
            server=str(data["server"]),
            kubeconfig=Path(data["kubeconfig"]),
            ports={str(k): int(v) for k, v in data["ports"].items()},
            processes=tuple(ProcessRecord.from_json(p) for p in data["processes"]),
        )

    def running(self) -> list[ProcessRecord]:
        return [p for p in self.processes if is_running(p)]


class LocalControlPlane:
    """``up()`` builds the binaries if needed, starts the components in ``directory``
    and returns the kubeconfig's path; ``down()`` stops them.  As a context manager it
    is up inside the block.  The processes run in sessions of their own, so a plane
    brought up by a command outlives it until ``down()`` (from any process)."""

    def __init__(
        self,
        directory: Path | str,
        *,
        versions: Versions | None = None,
        nodes: int = 2,
        startup_timeout: float = 120.0,
        progress: Progress | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.versions = versions or Versions()
        self.nodes = nodes
        self.startup_timeout = startup_timeout
        self._say = progress or (lambda _msg: None)
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._records: list[ProcessRecord] = []

    # -- what tests and the CLI read ----------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def state(self) -> ControlPlaneState | None:
        return ControlPlaneState.load(self.directory)

    def log_path(self, component: str) -> Path:
        return self.directory / f"{component}.log"

    def is_up(self) -> bool:
        state = self.state
        return (
            state is not None
            and bool(state.processes)
            and all(is_running(p) for p in state.processes)
        )

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every component's log, for a failing test's report."""
        parts = []
        for component in COMPONENTS:
            path = self.log_path(component)
            if path.exists():
                parts.append(f"----- {path} (last {lines} lines) -----\n{tail(path, lines)}")
        return "\n".join(parts)

    # -- lifecycle ------------------------------------------------------------------------

    def build(self, *, jobs: int = 2) -> Binaries:
        return ensure_binaries(self.versions, jobs=jobs, progress=self._say)

    def __enter__(self) -> LocalControlPlane:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def up(self) -> Path:
        """Start a fresh control plane (data of an earlier ``up`` in ``directory`` is
        removed) and return the kubeconfig's path once the API server is ready, the
        Nodes are Ready and the ``default`` ServiceAccount exists."""
        previous = self.state
        if previous is not None and previous.running():
            pids = ", ".join(str(p.pid) for p in previous.running())
            raise ControlPlaneError(f"{self.directory} is already up (pids {pids}): down first")
        binaries = cached_binaries(self.versions) or self.build()
        stages = stages_config(self.versions.kwok)
        self._prepare_directory()
        (self.directory / "stages.yaml").write_text(stages, encoding="utf-8")
        token = secrets.token_urlsafe(32)
        (self.directory / "tokens.csv").write_text(f"{token},admin,admin,system:masters\n")
        (self.directory / "tokens.csv").chmod(0o600)
        self._service_account_key(self.directory / "sa.key")
        ports = dict(zip(_PORTS, free_ports(len(_PORTS)), strict=True))
        server = f"https://127.0.0.1:{ports['kube-apiserver']}"
        config = Kubeconfig(server=server, token=token)
        self._records = []
        started = time.monotonic()
        try:
            self._start_all(binaries, ports, config)
        except BaseException:
            tails = self.log_tails(20)
            self.down()
            if tails:
                self._say(tails)
            raise
        self._say(f"control plane up in {time.monotonic() - started:.1f}s: {server}")
        return self.kubeconfig

    def down(self, *, timeout: float = 15.0) -> list[str]:
        """Stop every process ``up`` recorded (SIGTERM, then SIGKILL after ``timeout``
        seconds each).  Returns the components that had to be killed."""
        state = self.state
        records = list(state.processes) if state is not None else list(self._records)
        killed = stop_all(records, children=self._children, timeout=timeout)
        self._children.clear()
        self._records = []
        if state is not None:
            attrs.evolve(state, processes=()).save()
        return killed

    def restart_component(self, name: str, *, timeout: float = 15.0) -> float:
        """Stop one running component (SIGTERM, SIGKILL after ``timeout`` seconds: a
        kube-apiserver stopping gracefully waits for its watches to end) and start it
        again with the same arguments and ports; returns the seconds it was down.  For
        kube-apiserver, returns once it is ready again (``/readyz``).

        Raises:
            ControlPlaneError: the plane is not up, or ``name`` is not one of its
                components, or it did not come back.
        """
        state = self.state
        if state is None or not state.processes:
            raise ControlPlaneError(f"nothing is up in {self.directory}")
        records = list(state.processes)
        found = [i for i, r in enumerate(records) if r.name == name]
        if not found:
            known = ", ".join(r.name for r in records)
            raise ControlPlaneError(f"no component {name!r} (running: {known})")
        index = found[0]
        old = records[index]
        started = time.monotonic()
        stop_all([old], children=self._children, timeout=timeout)
        self._children.pop(old.pid, None)
        env = dict(os.environ)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.pop("KUBECONFIG", None)
        child, record = spawn(name, list(old.argv), log=Path(old.log), env=env)
        self._children[record.pid] = child
        records[index] = record
        self._records = records
        attrs.evolve(state, processes=tuple(records)).save()
        if name == "kube-apiserver":
            config = Kubeconfig(server=state.server, token=self._admin_token())
            with KubeRest(config) as rest:
                wait_until(
                    "kube-apiserver /readyz after a restart",
                    lambda: rest.healthy("/readyz") or None,
                    timeout=self.startup_timeout,
                    check=lambda: self._alive(record),
                )
        return time.monotonic() - started

    def _admin_token(self) -> str:
        return (self.directory / "tokens.csv").read_text().split(",", 1)[0]

    @staticmethod
    def _alive(record: ProcessRecord) -> None:
        if not is_running(record):
            raise ControlPlaneError(
                f"{record.name} exited after a restart; last lines of {record.log}:\n"
                + tail(Path(record.log), 30)
            )

    # -- steps of up() --------------------------------------------------------------------

    def _prepare_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in (*_OWNED, *(f"{c}.log" for c in COMPONENTS)):
            path = self.directory / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    @staticmethod
    def _service_account_key(path: Path) -> None:
        if shutil.which("openssl") is None:
            raise ControlPlaneError("openssl is needed to make the service-account key")
        subprocess.run(
            ["openssl", "genrsa", "-out", str(path), "2048"],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _save(self, config: Kubeconfig, ports: dict[str, int]) -> None:
        ControlPlaneState(
            directory=self.directory,
            versions=self.versions,
            server=config.server,
            kubeconfig=self.kubeconfig,
            ports=ports,
            processes=tuple(self._records),
        ).save()

    def _spawn(self, name: str, argv: list[str], config: Kubeconfig, ports: dict[str, int]) -> None:
        env = dict(os.environ)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.pop("KUBECONFIG", None)
        child, record = spawn(name, argv, log=self.log_path(name), env=env)
        self._children[record.pid] = child
        self._records.append(record)
        self._save(config, ports)  # recorded at once: a later failure can still stop it

    def _check_alive(self) -> None:
        for record in self._records:
            if not is_running(record):
                raise ControlPlaneError(
                    f"{record.name} exited during start-up; last lines of {record.log}:\n"
                    + tail(Path(record.log), 30)
                )

    def _start_all(self, binaries: Binaries, ports: dict[str, int], config: Kubeconfig) -> None:
        d = self.directory
        bin_ = binaries.path
        timeout = self.startup_timeout
        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"

        self._say(f"starting etcd {self.versions.etcd} on {etcd_url}")
        self._spawn(
            "etcd",
            [
                str(bin_("etcd")),
                "--name=default",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",
            ],
            config,
            ports,
        )
        with httpx.Client(trust_env=False, timeout=2.0) as plain:

            def etcd_healthy() -> bool | None:
                return plain.get(f"{etcd_url}/health").json().get("health") == "true" or None

            wait_until("etcd /health", etcd_healthy, timeout=timeout, check=self._check_alive)

        self._say(f"starting kube-apiserver {self.versions.kubernetes} on {config.server}")
        self._spawn(
            "kube-apiserver",
            [
                str(bin_("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",  # essential without a default route
                f"--secure-port={ports['kube-apiserver']}",
                f"--cert-dir={d / 'pki'}",
                f"--token-auth-file={d / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={d / 'sa.key'}",
                f"--service-account-signing-key-file={d / 'sa.key'}",
                # room for thousands of Services (bench/kube_controller.py makes 2,000;
                # a /24 runs out at 254)
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
            ],
            config,
            ports,
        )
        config.write(self.kubeconfig)
        with KubeRest(config) as rest:
            wait_until(
                "kube-apiserver /readyz",
                lambda: rest.healthy("/readyz") or None,
                timeout=timeout,
                check=self._check_alive,
            )
            kubeconfig = str(self.kubeconfig)
            # As kwokctl runs them: health and metrics open, no delegated authentication
            # (the API server's token file is the only authenticator), no client-side
            # throttling to slow tests down.
            common = [
                f"--kubeconfig={kubeconfig}",
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
                "--kube-api-qps=1000",
                "--kube-api-burst=1000",
            ]
            self._say("starting kube-controller-manager, kube-scheduler and kwok")
            self._spawn(
                "kube-controller-manager",
                [
                    str(bin_("kube-controller-manager")),
                    *common,
                    f"--secure-port={ports['kube-controller-manager']}",
                    f"--cert-dir={d / 'pki' / 'kube-controller-manager'}",
                    f"--service-account-private-key-file={d / 'sa.key'}",
                    f"--root-ca-file={d / 'pki' / 'apiserver.crt'}",
                ],
                config,
                ports,
            )
            self._spawn(
                "kube-scheduler",
                [
                    str(bin_("kube-scheduler")),
                    *common,
                    f"--secure-port={ports['kube-scheduler']}",
                    f"--cert-dir={d / 'pki' / 'kube-scheduler'}",
                ],
                config,
                ports,
            )
            key, value = KWOK_ANNOTATION
            self._spawn(
                "kwok",
                [
                    str(bin_("kwok")),
                    f"--kubeconfig={kubeconfig}",
                    f"--config={d / 'stages.yaml'}",
                    "--manage-all-nodes=false",
                    f"--manage-nodes-with-annotation-selector={key}={value}",
                    "--node-ip=127.0.0.1",
                    f"--cidr={POD_CIDR}",  # kwok's default /24 has IPs for 254 Pods only
                    f"--node-port={ports['kwok']}",
                    f"--server-address=127.0.0.1:{ports['kwok']}",
                    "--node-lease-duration-seconds=40",
                ],
                config,
                ports,
            )
            self._wait_ready(rest)

    def _wait_ready(self, rest: KubeRest) -> None:
        timeout = self.startup_timeout
        names = [f"kwok-node-{i}" for i in range(self.nodes)]
        for name in names:
            rest.create("/api/v1/nodes", fake_node(name))

        def nodes_ready() -> bool | None:
            for name in names:
                node = rest.get(f"/api/v1/nodes/{name}") or {}
                conditions = node.get("status", {}).get("conditions", [])
                if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return None
            return True

        if names:
            wait_until(
                f"Nodes {names} Ready (kwok)", nodes_ready, timeout=timeout, check=self._check_alive
            )
        wait_until(
            "the default ServiceAccount (kube-controller-manager)",
            lambda: rest.get("/api/v1/namespaces/default/serviceaccounts/default"),
            timeout=timeout,
            check=self._check_alive,
        )
