"""The controller on a real local control plane: N rollouts with kwok pods.

    python bench/kube_controller.py --rollouts 100 [--rollouts 1000 ...]
        [--workers 10 --qps 40 --burst 80 --total-qps 0] [--resync 300] [--steady 60]
        [--timeout 1200] [--profile controller.prof] [--controller-src DIR] [--keep]

For each N a fresh control plane (progressive._cluster: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok) comes up; ``progressive controller`` runs
as a separate process (``--workers/--qps/--burst`` are its flags) with the
ServiceAccount and RBAC ``progressive install`` makes, so its requests are the only
ones in the API server's ``service-accounts`` flow schema.  N rollouts shaped as in
bench/memory_controller.py (2 replicas, SMI router; setWeight 20, pause 10s, an
analysis, setWeight 60, pause 10s) are created, then all updated at once.  The
analysis is real: a ``web`` metric against an HTTP server this script runs on
127.0.0.1.  The phases: deploy (create N, until all Healthy and no Rollout changed for
5 s), a steady window, update (patch every pod template, until all Healthy on the new
revision, every old ReplicaSet scaled down after the default 30 s
scaleDownDelaySeconds with its pods gone, and 5 s without a change), a steady window.
The figures:

* wall time of the deploy and of the update;
* API requests per rollout step (N x 5) and per rollout update, by verb and resource,
  from the API server's own ``apiserver_request_total`` less this script's own
  requests.  A row is the controller's when only the controller writes that resource
  (rollouts/status, replicasets, services, trafficsplits, analysisruns) or, for
  reads, when the controller's informers read it; GET rollouts is kube-controller-
  manager's garbage collector (checking a new object's owner); core Events are shared
  with kube-controller-manager, so the controller's Events are its own count
  (``progressive_events_total``).  An audit log confirmed this attribution.  The
  controller's total is also given as the API server counts it
  (``apiserver_flowcontrol_dispatched_requests_total{flow_schema="service-accounts"}``)
  and as it counts itself (``progressive_k8s_requests_total``);
* requests per minute in the ``--steady`` windows (the controller's resync, every
  300 s, may fall in one: the phase's reconcile count shows it);
* spec change to first write: from sending a rollout's template patch to the first
  write of the controller for it that this script sees on its watches (the Rollout
  changed again, or its new ReplicaSet created), p50 and p99;
* step lateness: when a timed pause ended (seen on the watch) minus when it was due
  (its ``startTime`` + 10 s), p50 and p99, in all and by pause of the update (the
  first, after setWeight 20, ends into the analysis; the second into the promotion);
* the controller's RSS once its caches are synced with no rollouts and with N Healthy
  rollouts (their Services and ReplicaSets included); KB per rollout; CPU seconds of
  the controller and of every component per phase.

``--timeout`` bounds each phase; the plane is brought down even on failure (its
directory and the controller's log are then kept, as with ``--keep``).  Prints the
per-phase tables and progress on stderr, one line per N and then one JSON line on
stdout.  ``--controller-src`` runs the controller from another checkout's ``src``
(a before/after comparison on the same machine).  The machine's load average
(``/proc/loadavg``) is recorded before and after each run.

The controller measured is a :class:`Subject`; :data:`PROGRESSIVE` is this project's,
``bench/versus_argo.py`` measures Argo Rollouts' beside it with the same workload.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
from _workload import GROUP, NAMESPACE, PAUSE, STEPS, analysis_template, documents, new_template

from progressive import _deploy
from progressive._cluster import Kubeconfig, LocalControlPlane, install_crds
from progressive._shell.controller import WORKERS
from progressive._shell.ratelimit import DEFAULT_BURST, DEFAULT_QPS
from progressive.cli._install import manifests
from progressive.client import RolloutState

REPLICA_SETS = f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets"
HASH = "rollouts-pod-template-hash"
WRITES = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
CONCURRENCY = 16  # this script's requests in flight while creating and patching
SETTLE = 5.0  # seconds without a Rollout changing that end a phase

TRAFFIC_SPLITS = ("split.smi-spec.io", "trafficsplits", "")
SHARED = {("", "events", "")}  # kube-controller-manager's too (the scheduler's: events.k8s.io)


def rollouts_path(group: str) -> str:
    return f"/apis/{group}/v1alpha1/namespaces/{NAMESPACE}/rollouts"


def controller_only(group: str) -> set[tuple[str, str, str]]:
    """(group, resource, subresource) the controller may write and nobody else does."""
    return {
        (group, "rollouts", ""),
        (group, "rollouts", "status"),
        (group, "analysisruns", ""),
        (group, "analysisruns", "status"),
        ("apps", "replicasets", ""),
        ("", "services", ""),
        TRAFFIC_SPLITS,
    }


def watched(group: str) -> set[tuple[str, str, str]]:
    """What the controllers' informers list and watch (kube-controller-manager's garbage
    collector watches them too, but a watch counts only when it ends, every 5-10 min)."""
    kinds = ("rollouts", "analysisruns", "analysistemplates", "clusteranalysistemplates")
    return {
        *((group, r, "") for r in (*kinds, "experiments")),
        ("apps", "replicasets", ""),
        ("apps", "deployments", ""),
        ("", "services", ""),
        TRAFFIC_SPLITS,
        ("", "configmaps", ""),  # Argo's notification settings
        ("", "secrets", ""),
        ("batch", "jobs", ""),  # Argo's job metric provider
        ("networking.k8s.io", "ingresses", ""),
    }


Key = tuple[str, str, str, str]  # verb, group, resource, subresource


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- the analysis endpoint --------------------------------------------------------------------


class Checks:
    """A threaded HTTP server on 127.0.0.1 answering ``{"value": 1.0}``, counting calls."""

    def __init__(self) -> None:
        self.calls = 0
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    owner.calls += 1
                body = b'{"value": 1.0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- this script's own API requests -----------------------------------------------------------


class Api:
    """The bench's requests (admin token), counted as the API server counts them:
    (verb, group, resource, subresource); a watch counts when it ends."""

    def __init__(self, config: Kubeconfig) -> None:
        self.counts: collections.Counter[Key] = collections.Counter()
        self.client = httpx.AsyncClient(
            base_url=config.server,
            headers={"Authorization": f"Bearer {config.token}"},
            verify=False,  # the local plane's self-signed certificate
            trust_env=False,
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=CONCURRENCY + 8),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(
        self, verb: str, kind: tuple[str, str, str], method: str, path: str, **kw: Any
    ) -> httpx.Response:
        self.counts[(verb, *kind)] += 1
        response = await self.client.request(method, path, **kw)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        api_version, kind = obj["apiVersion"], obj["kind"]
        group = api_version.rpartition("/")[0]
        resource = kind.lower() + "s"
        prefix = f"/apis/{api_version}" if group else f"/api/{api_version}"
        namespace = obj["metadata"].get("namespace")
        path = (
            f"{prefix}/namespaces/{namespace}/{resource}" if namespace else f"{prefix}/{resource}"
        )
        response = await self.send("POST", (group, resource, ""), "POST", path, json=obj)
        created: dict[str, Any] = response.json()
        return created

    async def metrics(self) -> str:
        # non-resource: rows with resource "" are left out of every table
        return (await self.client.get("/metrics")).text


# -- watches ----------------------------------------------------------------------------------


async def watch(
    api: Api,
    path: str,
    kind: tuple[str, str, str],
    on_event: Callable[[str, dict[str, Any], float], None],
    listed: anyio.Event,
) -> None:
    """List ``path`` then watch it from there (again after an expired version), calling
    ``on_event(type, object, wall time)``; sets ``listed`` after the first list."""
    while True:
        response = await api.send("LIST", kind, "GET", path)
        body = response.json()
        now = time.time()
        for item in body["items"]:
            on_event("ADDED", item, now)
        version = body["metadata"]["resourceVersion"]
        listed.set()
        while version is not None:
            params = {
                "watch": "1",
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "7200",
            }
            try:
                async with api.client.stream(
                    "GET", path, params=params, timeout=httpx.Timeout(30.0, read=None)
                ) as stream:
                    async for line in stream.aiter_lines():
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":  # 410 Gone: list again
                            version = None
                            break
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            on_event(event["type"], obj, time.time())
            finally:
                api.counts[("WATCH", *kind)] += 1


class Tracker:
    """What the watches saw: each Rollout's progress, and each rollout's ReplicaSets."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.image = "app:1"
        self.healthy: set[str] = set()
        self.all_healthy = anyio.Event()
        self.old_hash: dict[str, str] = {}
        self.generation: dict[str, int] = {}
        self.target_generation: dict[str, int] = {}
        self.seen_at_target: collections.Counter[str] = collections.Counter()
        self.patched_at: dict[str, float] = {}
        self.first_write: dict[str, float] = {}
        self.first_write_by: collections.Counter[str] = collections.Counter()
        self.pauses: dict[str, float] = {}  # rollout -> startTime of its pause
        self.stable: dict[str, str] = {}
        self.lateness: list[float] = []
        self.lateness_by_pause: dict[int, list[float]] = collections.defaultdict(list)
        self.pauses_ended: collections.Counter[str] = collections.Counter()
        # rollout -> pod-template hash -> (spec.replicas, status.replicas)
        self.replicas: dict[str, dict[str, tuple[int, int]]] = collections.defaultdict(dict)
        self.last_event = time.monotonic()  # of a Rollout
        self.scaled_down = anyio.Event()
        self.updating = False

    # -- rollouts
    def on_rollout(self, type_: str, obj: dict[str, Any], now: float) -> None:
        if type_ == "DELETED":
            return
        self.last_event = time.monotonic()
        state = RolloutState.of(obj)
        name = state.name
        self.generation[name] = state.generation
        target = self.target_generation.get(name)
        if target is not None and state.generation >= target and name not in self.first_write:
            self.seen_at_target[name] += 1
            if self.seen_at_target[name] >= 2:  # the first is the bench's own patch
                self._first_write(name, now, "Rollout")
        self.stable[name] = state.stable or ""
        pauses = (obj.get("status") or {}).get("pauseConditions") or ()
        start = next(
            (
                _parse_time(p.get("startTime"))
                for p in pauses
                if p.get("reason") == "CanaryPauseStep"
            ),
            None,
        )
        held = self.pauses.get(name)
        if held is not None and start != held and self.updating:
            self.lateness.append(now - (held + PAUSE))  # the pause held since `held` ended
            self.pauses_ended[name] += 1  # the first pause of the update, the second
            self.lateness_by_pause[self.pauses_ended[name]].append(self.lateness[-1])
        if start is None:
            self.pauses.pop(name, None)
        else:
            self.pauses[name] = start
        if self._is_healthy(state):
            if name not in self.healthy:
                self.healthy.add(name)
                if len(self.healthy) == self.n:
                    self.all_healthy.set()
        else:
            self.healthy.discard(name)

    def _is_healthy(self, state: RolloutState) -> bool:
        if state.phase != "Healthy" or state.current is None or state.stable != state.current:
            return False
        if state.observed_generation < state.generation:
            return False
        containers = state.manifest["spec"]["template"]["spec"]["containers"]
        return bool(containers[0]["image"] == self.image)

    # -- replica sets
    def on_replica_set(self, type_: str, obj: dict[str, Any], now: float) -> None:
        meta = obj["metadata"]
        owners = meta.get("ownerReferences") or ()
        rollout = next((o["name"] for o in owners if o.get("kind") == "Rollout"), None)
        hash_ = (meta.get("labels") or {}).get(HASH)
        if rollout is None or hash_ is None:
            return
        if type_ == "DELETED":
            self.replicas[rollout].pop(hash_, None)
        else:
            self.replicas[rollout][hash_] = (
                int((obj.get("spec") or {}).get("replicas") or 0),
                int((obj.get("status") or {}).get("replicas") or 0),
            )
        if (
            type_ == "ADDED"
            and rollout in self.patched_at
            and hash_ != self.old_hash.get(rollout)
            and rollout not in self.first_write
        ):
            self._first_write(rollout, now, "ReplicaSet")
        if self.updating and not self.scaled_down.is_set() and self.old_scaled_down() == self.n:
            self.scaled_down.set()

    def old_scaled_down(self) -> int:
        """Rollouts whose old ReplicaSet wants no pod and has none left."""
        return sum(
            1
            for rollout, old in self.old_hash.items()
            if self.replicas.get(rollout, {}).get(old, (0, 0)) == (0, 0)
        )

    async def settle(self, quiet: float, within: float) -> None:
        """Until no Rollout changed for ``quiet`` seconds (``within`` seconds at most)."""
        deadline = time.monotonic() + within
        while True:
            now = time.monotonic()
            idle = now - self.last_event
            if idle >= quiet or now >= deadline:
                return
            await anyio.sleep(min(quiet - idle, deadline - now))

    def _first_write(self, name: str, now: float, what: str) -> None:
        self.first_write[name] = now
        self.first_write_by[what] += 1

    # -- phases
    def start_update(self, image: str) -> None:
        self.old_hash = dict(self.stable)
        for name, generation in self.generation.items():
            self.target_generation[name] = generation + 1
        self.image = image
        self.healthy.clear()
        self.all_healthy = anyio.Event()
        self.updating = True


def _parse_time(value: object) -> float | None:
    from progressive.core._times import parse_time

    return parse_time(value)


# -- metrics ----------------------------------------------------------------------------------

_LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def series(text: str, name: str, *, bare: bool = False) -> Iterable[tuple[dict[str, str], float]]:
    """``name{labels} value`` lines (with ``bare``, ``name value`` lines too)."""
    prefix = name + "{"
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line[len(prefix) :].rpartition("} ")
            yield dict(_LABELS.findall(labels)), float(value)
        elif bare and line.startswith(name + " "):
            yield {}, float(line.split()[-1])


class Own:
    """What a controller counts itself, from its /metrics text."""

    def __init__(
        self,
        requests: collections.Counter[str],
        events: int,
        event_requests: int,
        events_dropped: collections.Counter[str],
        reconciles: int,
        reasons: collections.Counter[str] | None = None,
        client_wait: collections.Counter[str] | None = None,
    ) -> None:
        self.requests = requests  # API requests by verb
        self.events = events  # Events emitted (recorded)
        self.event_requests = event_requests  # API requests writing Events
        self.events_dropped = events_dropped  # by reason
        self.reconciles = reconciles
        self.reasons = reasons if reasons is not None else collections.Counter()
        # seconds requests waited for a client-side token, by lane
        self.client_wait = client_wait if client_wait is not None else collections.Counter()


def own_progressive(text: str) -> Own:
    requests: collections.Counter[str] = collections.Counter()
    for labels, value in series(text, "progressive_k8s_requests_total"):
        requests[labels["verb"]] += int(value)
    reasons: collections.Counter[str] = collections.Counter()
    for labels, value in series(text, "progressive_events_total"):
        reasons[labels["reason"]] += int(value)
    dropped: collections.Counter[str] = collections.Counter()
    for labels, value in series(text, "progressive_events_dropped_total"):
        dropped[labels["reason"]] += int(value)
    event_requests = [v for _, v in series(text, "progressive_event_requests_total", bare=True)]
    waits: collections.Counter[str] = collections.Counter()
    for labels, value in series(text, "progressive_k8s_client_wait_seconds_total"):
        waits[labels["lane"]] += value
    emitted = sum(reasons.values())
    return Own(
        requests,
        emitted,
        # before the recorder counted its requests, each Event was written once
        int(event_requests[0]) if event_requests else emitted,
        dropped,
        int(sum(v for _, v in series(text, "progressive_reconcile_duration_seconds_count"))),
        reasons,
        waits,
    )


class Snapshot:
    """The API server's counters, the controller's own, and process figures, at once."""

    def __init__(
        self,
        apiserver: str,
        own: Own,
        cpu: dict[str, float],
        bench: Iterable[Any],
    ) -> None:
        self.time = time.monotonic()
        self.requests: collections.Counter[Key] = collections.Counter()
        self.errors: collections.Counter[Key] = collections.Counter()
        for labels, value in series(apiserver, "apiserver_request_total"):
            if not labels.get("resource"):
                continue  # /metrics, /readyz, discovery
            key = (labels["verb"], labels["group"], labels["resource"], labels["subresource"])
            self.requests[key] += int(value)
            if labels["code"] >= "400":
                self.errors[key] += int(value)
        self.flows: collections.Counter[str] = collections.Counter()
        for labels, value in series(apiserver, "apiserver_flowcontrol_dispatched_requests_total"):
            self.flows[labels["flow_schema"]] += int(value)
        self.own = own
        self.cpu = dict(cpu)
        self.bench: collections.Counter[Key] = collections.Counter(dict(bench))


def diff(after: Snapshot, before: Snapshot, group: str = GROUP) -> dict[str, Any]:
    """What happened between two snapshots, less this script's own requests."""
    only, reads = controller_only(group), watched(group)
    now, then = after.own, before.own
    requests = after.requests - before.requests
    requests.subtract(after.bench - before.bench)
    rows = []
    for (verb, group, resource, sub), count in sorted(requests.items()):
        if count <= 0:
            continue
        where = (group, resource, sub)
        if where in SHARED:
            who = "shared"
        elif verb in WRITES and where in only:
            who = "controller"
        elif verb in ("LIST", "WATCH") and where in reads:
            who = "controller"
        elif verb == "GET" and where == TRAFFIC_SPLITS:
            who = "controller"  # read by reconciles when not cached (an audit log says so)
        else:
            who = "others"  # GET rollouts: the garbage collector, checking new objects' owner
        errors = after.errors[(verb, *where)] - before.errors[(verb, *where)]
        rows.append(
            {
                "verb": verb,
                "resource": resource + (f"/{sub}" if sub else ""),
                "group": group,
                "count": count,
                "errors": errors,
                "who": who,
            }
        )
    return {
        "seconds": round(after.time - before.time, 1),
        "rows": rows,
        "controller_requests_apiserver": (
            after.flows["service-accounts"] - before.flows["service-accounts"]
        ),
        "controller_requests_own": dict(now.requests - then.requests),
        "controller_events": now.events - then.events,
        "controller_event_requests": now.event_requests - then.event_requests,
        "controller_events_dropped": dict(now.events_dropped - then.events_dropped),
        "controller_events_by_reason": dict((now.reasons - then.reasons).most_common()),
        "reconciles": now.reconciles - then.reconciles,
        "client_wait_s": {
            lane: round(seconds, 1)
            for lane, seconds in (now.client_wait - then.client_wait).items()
        },
        "cpu_s": {k: round(after.cpu.get(k, 0.0) - v, 1) for k, v in before.cpu.items()},
    }


def summary(phase: dict[str, Any], divisor: float) -> dict[str, Any]:
    """The controller's writes by verb and resource (its Events by its own count: the
    core Events rows are shared), its reads, its total as the API server counts it, and
    the other components' writes; all divided by ``divisor``."""
    writes: collections.Counter[str] = collections.Counter()
    reads: collections.Counter[str] = collections.Counter()
    others: collections.Counter[str] = collections.Counter()
    for row in phase["rows"]:
        label = f"{row['verb']} {row['resource']}"
        if row["who"] == "controller":
            (writes if row["verb"] in WRITES else reads)[label] += row["count"]
        elif row["verb"] in WRITES:
            others[label + (" (shared)" if row["who"] == "shared" else "")] += row["count"]
    events = phase["controller_event_requests"]
    if events:
        writes["events (own count)"] += events

    def per(counter: collections.Counter[str]) -> dict[str, float]:
        return {k: round(v / divisor, 3) for k, v in counter.most_common()}

    total = sum(writes.values())
    return {
        "writes": round(total / divisor, 3),
        "writes_without_events": round((total - events) / divisor, 3),
        "writes_by": per(writes),
        "reads": round(sum(reads.values()) / divisor, 3),
        "reads_by": per(reads),
        "requests": round(phase["controller_requests_apiserver"] / divisor, 3),
        "reconciles": round(phase["reconciles"] / divisor, 3),
        "others_writes": round(sum(others.values()) / divisor, 3),
        "others_writes_by": per(others),
    }


# -- processes --------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def controller_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.pop("KUBECONFIG", None)
    env.update(extra or {})
    return env


def start_process(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )


def stop_controller(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the run ----------------------------------------------------------------------------------


async def until(what: str, probe: Callable[[], Awaitable[bool]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:g}s waiting for {what}")
        await anyio.sleep(0.2)


async def in_parallel(jobs: Iterable[Callable[[], Awaitable[Any]]]) -> None:
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(job: Callable[[], Awaitable[Any]]) -> None:
        async with limiter:
            await job()

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(one, job)


async def create_namespace(api: Api) -> None:
    await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})

    async def default_account() -> bool:
        path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"
        return (await api.client.get(path)).status_code == 200

    await until("the default ServiceAccount", default_account, 60.0)


async def service_account_token(api: Api, namespace: str, name: str) -> str:
    response = await api.client.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        json={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 86400},
        },
    )
    response.raise_for_status()
    token: str = response.json()["status"]["token"]
    return token


class Subject:
    """A controller under measurement: how it is installed, started and read."""

    name = "progressive"
    group = GROUP

    async def install(self, api: Api, kubeconfig: Path, checks: Checks) -> str:
        """CRDs, RBAC, the namespace and the AnalysisTemplate; returns a token of the
        controller's ServiceAccount."""
        from progressive._shell.kube import KubeCluster
        from progressive.cli._install import install_objects

        docs = [d for d in manifests() if d["kind"] not in ("Deployment", "Service")]
        async with await KubeCluster.from_kubeconfig(kubeconfig) as cluster:
            await install_objects(cluster, docs, established_within=60.0)
        await create_namespace(api)
        await api.create(analysis_template(checks.url, self.group))
        return await service_account_token(api, _deploy.NAMESPACE, _deploy.SERVICE_ACCOUNT)

    def start(
        self, kubeconfig: Path, port: int, log: Path, args: argparse.Namespace
    ) -> subprocess.Popen[bytes]:
        command = [sys.executable]
        if args.profile:
            command += ["-m", "cProfile", "-o", str(Path(args.profile).resolve())]
        command += [
            "-m", "progressive", "controller",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={NAMESPACE}",
            f"--api-groups={self.group}",
            f"--workers={args.workers}",
            f"--qps={args.qps}",
            f"--burst={args.burst}",
            f"--resync={args.resync}",
            f"--metrics-address=127.0.0.1:{port}",
        ]  # fmt: skip
        if getattr(args, "total_qps", 0):
            command.append(f"--total-qps={args.total_qps}")
        extra = {}
        if args.controller_src:
            extra["PYTHONPATH"] = str(Path(args.controller_src).resolve())
        return start_process(command, log, controller_env(extra))

    async def ready(self, plain: httpx.AsyncClient) -> bool:
        return (await plain.get("/readyz")).status_code == 200

    def own(self, text: str) -> Own:
        return own_progressive(text)

    def settings(self, args: argparse.Namespace) -> dict[str, Any]:
        return {
            "workers": args.workers,
            "qps": args.qps,
            "burst": args.burst,
            "total_qps": getattr(args, "total_qps", 0),
            "resync": args.resync,
        }


PROGRESSIVE = Subject()


def load_average() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(v) for v in f.read().split()[:3]]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))], 3)


async def run(n: int, args: argparse.Namespace, subject: Subject = PROGRESSIVE) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix=f"kube-bench-{subject.name}-{n}-"))
    load_before = load_average()
    plane = LocalControlPlane(directory / "plane", startup_timeout=120.0, progress=say)
    checks = Checks()
    controller: subprocess.Popen[bytes] | None = None
    ok = False
    try:
        plane.up()
        install_crds(plane.kubeconfig, timeout=60.0)
        config = Kubeconfig.load(plane.kubeconfig)
        api = Api(config)
        try:
            token = await subject.install(api, plane.kubeconfig, checks)
            own = directory / "controller.kubeconfig"
            Kubeconfig(server=config.server, token=token).write(own)
            async with httpx.AsyncClient(
                base_url=config.server,
                headers={"Authorization": f"Bearer {token}"},
                verify=False,
                trust_env=False,
            ) as as_sa:

                async def may_list() -> bool:  # the authorizer learns of bindings late
                    return (await as_sa.get(rollouts_path(subject.group))).status_code == 200

                await until("the controller's RBAC", may_list, 30.0)
            port = free_port()
            controller = subject.start(own, port, directory / "controller.log", args)
            result = await measure(n, args, api, plane, controller, port, checks, subject)
            result["controller"] = subject.name
            result["load_average"] = {"before": load_before, "after": load_average()}
            ok = True
            return result
        finally:
            await api.aclose()
    finally:
        if controller is not None:
            stop_controller(controller)
        checks.close()
        plane.down()
        if args.keep or not ok:
            say(f"kept {directory} (plane logs, controller.log)")
        else:
            shutil.rmtree(directory, ignore_errors=True)


async def measure(
    n: int,
    args: argparse.Namespace,
    api: Api,
    plane: LocalControlPlane,
    controller: subprocess.Popen[bytes],
    port: int,
    checks: Checks,
    subject: Subject,
) -> dict[str, Any]:
    state = plane.state
    assert state is not None
    pids = {p.name: p.pid for p in state.processes} | {"controller": controller.pid}
    metrics_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=metrics_url, trust_env=False, timeout=10.0) as plain:

        async def ready() -> bool:
            if controller.poll() is not None:
                raise RuntimeError(f"the controller exited ({controller.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                return await subject.ready(plain)
            return False

        await until("the controller's informers synced", ready, 60.0)
        await anyio.sleep(2.0)
        rss_empty = proc_status(controller.pid)

        async def snapshot() -> Snapshot:
            text = await api.metrics()
            own = subject.own((await plain.get("/metrics")).text)
            cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
            return Snapshot(text, own, cpu, api.counts.items())

        tracker = Tracker(n)
        async with anyio.create_task_group() as tg:
            listed = [anyio.Event(), anyio.Event()]
            tg.start_soon(
                watch,
                api,
                rollouts_path(subject.group),
                (subject.group, "rollouts", ""),
                tracker.on_rollout,
                listed[0],
            )
            tg.start_soon(
                watch, api, REPLICA_SETS, ("apps", "replicasets", ""), tracker.on_replica_set,
                listed[1],
            )  # fmt: skip
            for event in listed:
                await event.wait()
            result = await phases(n, args, api, tracker, snapshot, controller, checks, subject)
            tg.cancel_scope.cancel()
    result["rss_kb"] = {"synced_empty": rss_empty["VmRSS"], **result["rss_kb"]}
    result["kb_per_rollout"] = round((result["rss_kb"]["healthy"] - rss_empty["VmRSS"]) / n, 1)
    return result


async def phases(
    n: int,
    args: argparse.Namespace,
    api: Api,
    tracker: Tracker,
    snapshot: Callable[[], Awaitable[Snapshot]],
    controller: subprocess.Popen[bytes],
    checks: Checks,
    subject: Subject,
) -> dict[str, Any]:
    timeout = args.timeout
    group = subject.group

    async def wait(event: anyio.Event, what: str) -> bool:
        with anyio.move_on_after(timeout):
            while not event.is_set():
                if controller.poll() is not None:
                    raise RuntimeError(f"the controller exited ({controller.returncode})")
                with anyio.move_on_after(5.0):
                    await event.wait()
            return True
        say(f"N={n}: timed out after {timeout:g}s waiting for {what}")
        return False

    # 1. the first deploy
    s0 = await snapshot()
    say(f"N={n}: creating {n} rollouts")
    started = time.monotonic()
    objects = [documents(i, "app:1", group) for i in range(n)]
    await in_parallel(functools.partial(api.create, doc) for docs in objects for doc in docs[:-1])
    await in_parallel(functools.partial(api.create, docs[-1]) for docs in objects)
    created_s = time.monotonic() - started
    deployed = await wait(tracker.all_healthy, "the first deploy")
    deploy_s = time.monotonic() - started
    deploy_healthy = len(tracker.healthy)
    say(f"N={n}: {deploy_healthy} Healthy after {deploy_s:.1f}s")
    await tracker.settle(SETTLE, timeout)
    s1 = await snapshot()
    rss_healthy = proc_status(controller.pid)["VmRSS"]

    # 2. steady state after the first deploy
    await anyio.sleep(args.steady)
    s2 = await snapshot()

    # 3. the update
    tracker.start_update("app:2")
    calls_before = checks.calls
    say(f"N={n}: updating")
    started = time.monotonic()

    async def patch(i: int) -> None:
        name = f"app-{i}"
        body = json.dumps(new_template(i, "app:2"))
        tracker.patched_at[name] = time.time()
        await api.send(
            "PATCH",
            (group, "rollouts", ""),
            "PATCH",
            f"{rollouts_path(group)}/{name}",
            content=body,
            headers={"Content-Type": "application/merge-patch+json"},
        )

    await in_parallel(functools.partial(patch, i) for i in range(n))
    patched_s = time.monotonic() - started
    updated = await wait(tracker.all_healthy, "the update")
    update_s = time.monotonic() - started
    update_healthy = len(tracker.healthy)
    say(f"N={n}: {update_healthy} Healthy on the new revision after {update_s:.1f}s")
    quiet = updated and await wait(tracker.scaled_down, "the old ReplicaSets scaled down")
    quiet_s = time.monotonic() - started
    await tracker.settle(SETTLE, timeout)
    s3 = await snapshot()
    rss_updated = proc_status(controller.pid)

    # 4. steady state after the update
    await anyio.sleep(args.steady)
    s4 = await snapshot()

    update = diff(s3, s2, group)
    delays = [
        tracker.first_write[name] - tracker.patched_at[name]
        for name in tracker.first_write
        if name in tracker.patched_at
    ]
    steady_deploy, steady_update = diff(s2, s1, group), diff(s4, s3, group)
    return {
        "rollouts": n,
        "settings": subject.settings(args),
        "create_s": round(created_s, 1),
        "deploy_s": round(deploy_s, 1),
        "deploy_healthy": deploy_healthy,
        "deploy_finished": deployed,
        "patch_s": round(patched_s, 1),
        "update_s": round(update_s, 1),
        "update_healthy": update_healthy,
        "update_finished": updated,
        "update_quiet_s": round(quiet_s, 1) if quiet else None,
        "old_scaled_down": tracker.old_scaled_down(),
        "analysis_calls": checks.calls - calls_before,
        "per_step": summary(update, n * STEPS),
        "per_update": summary(update, n),
        "steady_after_deploy_per_min": summary(steady_deploy, steady_deploy["seconds"] / 60),
        "steady_after_update_per_min": summary(steady_update, steady_update["seconds"] / 60),
        "first_write_p50_s": percentile(delays, 0.5),
        "first_write_p99_s": percentile(delays, 0.99),
        "first_write_max_s": round(max(delays), 3) if delays else None,
        "first_write_seen": dict(tracker.first_write_by),
        "lateness_p50_s": percentile(tracker.lateness, 0.5),
        "lateness_p99_s": percentile(tracker.lateness, 0.99),
        "lateness_max_s": round(max(tracker.lateness), 3) if tracker.lateness else None,
        "pauses_seen": len(tracker.lateness),
        "lateness_by_pause": {
            k: {
                "p50_s": percentile(v, 0.5),
                "p99_s": percentile(v, 0.99),
                "max_s": round(max(v), 3),
                "over_3s": sum(1 for x in v if x > 3.0),
            }
            for k, v in sorted(tracker.lateness_by_pause.items())
        },
        "rss_kb": {
            "healthy": rss_healthy,
            "updated": rss_updated["VmRSS"],
            "peak": rss_updated["VmHWM"],
        },
        "phases": {
            "deploy": diff(s1, s0, group),
            "steady_after_deploy": steady_deploy,
            "update": update,
            "steady_after_update": steady_update,
        },
    }


# -- output -----------------------------------------------------------------------------------


def line(r: dict[str, Any]) -> str:
    step, steady, deployed = (
        r["per_step"],
        r["steady_after_update_per_min"],
        r["steady_after_deploy_per_min"],
    )
    writes = ", ".join(f"{k} {v:g}" for k, v in step["writes_by"].items() if v >= 0.01)
    reads = ", ".join(f"{k} {v:g}" for k, v in step["reads_by"].items() if v >= 0.01)
    settings = ", ".join(f"{k} {v}" for k, v in r["settings"].items())
    load = r["load_average"]
    return (
        f"{r['controller']} N={r['rollouts']} ({settings}; load average {load['before'][0]} "
        f"before, {load['after'][0]} after): deploy {r['deploy_s']} s "
        f"({r['deploy_healthy']} Healthy); update {r['update_s']} s to Healthy "
        f"({r['update_healthy']}), {r['update_quiet_s']} s to old ReplicaSets "
        f"gone; per step: {step['writes']:g} writes ({writes}), {step['reads']:g} reads "
        f"({reads}), {step['requests']:g} requests in all, {step['reconciles']:g} "
        f"reconciles; steady state per min: {deployed['writes']:g} writes and "
        f"{deployed['requests']:g} requests after the deploy, {steady['writes']:g} writes "
        f"and {steady['requests']:g} requests after the update; spec change to first "
        f"write p50 {r['first_write_p50_s']} s, p99 {r['first_write_p99_s']} s; step "
        f"lateness p50 {r['lateness_p50_s']} s, p99 {r['lateness_p99_s']} s "
        f"(by pause of the update: {r['lateness_by_pause']}); RSS "
        f"{r['rss_kb']['synced_empty'] / 1024:.1f} MB synced with no rollouts, "
        f"{r['rss_kb']['healthy'] / 1024:.1f} MB with N Healthy: {r['kb_per_rollout']} KB "
        f"per rollout"
    )


def table(r: dict[str, Any]) -> str:
    """Every phase's requests by verb and resource, per rollout (steady: per minute)."""
    n = r["rollouts"]
    out = []
    for key, phase in r["phases"].items():
        steady = key.startswith("steady")
        divisor = phase["seconds"] / 60 if steady else n
        unit = "per minute" if steady else "per rollout"
        out.append(
            f"N={n} {key} ({phase['seconds']} s), {unit}, less the bench's own requests; "
            f"controller: {phase['controller_requests_apiserver']} requests as the API "
            f"server counts them, {sum(phase['controller_requests_own'].values())} as it "
            f"does, {phase['controller_events']} events emitted, "
            f"{phase['controller_event_requests']} Event requests, "
            f"{phase['controller_events_dropped'] or 'none'} shed, "
            f"{phase['reconciles']} reconciles; waited for client-side tokens (s): "
            f"{phase['client_wait_s'] or 'never'}; CPU s {phase['cpu_s']}"
        )
        for row in phase["rows"]:
            errors = f"  ({row['errors']} errors)" if row["errors"] else ""
            out.append(
                f"  {row['verb']:<7} {row['resource']:<24} {row['group']:<18} "
                f"{row['count'] / divisor:>9.2f}  {row['who']}{errors}"
            )
    return "\n".join(out)


def arguments(description: str | None) -> argparse.ArgumentParser:
    """The options this bench and bench/versus_argo.py share."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rollouts", type=int, action="append")
    parser.add_argument(
        "--workers", type=int, default=WORKERS, help="the controller's --workers"
    )
    parser.add_argument("--qps", type=float, default=DEFAULT_QPS, help="the controller's --qps")
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST, help="the controller's --burst")
    parser.add_argument(
        "--total-qps", type=float, default=0.0, help="the controller's --total-qps (0: none)"
    )
    parser.add_argument("--resync", type=float, default=300.0, help="the controller's --resync")
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of each steady window")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per phase at most")
    parser.add_argument("--profile", help="run the controller under cProfile, into this file")
    parser.add_argument(
        "--controller-src", help="run the controller from this src folder (another checkout)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the plane's directory")
    return parser


def main() -> None:
    args = arguments(__doc__).parse_args()
    results = []
    for n in args.rollouts or [100]:
        result = anyio.run(run, n, args)
        results.append(result)
        say(table(result))
        print(line(result), flush=True)
    print(json.dumps({"bench": "kube_controller", "results": results}))


if __name__ == "__main__":
    main()
