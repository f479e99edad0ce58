"""Where the kubectl-plugin commands find their objects: a real cluster or ``--memory``.

Every command that reads or changes Rollouts takes the same connection options, before
or after its name (``progressive -n shop get rollout web`` and ``progressive get
rollout web -n shop`` are the same), as cobra's persistent flags are in Argo's plugin:

* ``-n/--namespace``, ``--context``, ``--kubeconfig``, ``--request-timeout``:
  kubectl's.  The namespace defaults to the kubeconfig context's, else ``default``;
  each request to the API server gets 30 seconds (a server that accepts connections
  and never answers is named in the error, with what was asked of it).
* ``--memory``: the in-memory cluster instead (``progressive.memory.MemoryCluster``),
  kept between invocations in a state file (``--memory-state PATH``; by default
  ``${PROGRESSIVE_CACHE:-~/.cache/progressive}/memory.json``; ``PROGRESSIVE_MEMORY=1``
  turns it on for a whole shell).  The file is loaded at start, locked while the
  command runs, and saved at the end.  After a command that wrote anything, the
  in-memory controller runs on the cluster's virtual clock until nothing more is
  scheduled (:meth:`Session.settle`): the next indefinite pause, Healthy or Degraded,
  as ``progressive simulate`` does.  A stand-in for Kubernetes' Deployment controller
  runs with it (:mod:`._deployments`), so a migrated Deployment has pods too.

:func:`open_session` gives a command a :class:`Session` either way; :func:`run` runs
its coroutine and turns every failure into one ``error: ...`` line on standard error
and exit status 1.

Only ``click`` is imported at module level: ``progressive --help`` imports this.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import click

if TYPE_CHECKING:
    from progressive._clusters import Cluster
    from progressive._shell.kube import KubeCluster
    from progressive.memory import MemoryCluster

__all__ = [
    "CONTEXT",
    "EXIT_ERROR",
    "CliError",
    "RequestTimeout",
    "Session",
    "Target",
    "complete_rollouts",
    "connect",
    "connection_options",
    "default_state_path",
    "kube_options",
    "open_session",
    "run",
]

EXIT_ERROR: Final = 1
#: every command's context: ``-h`` is ``--help``
CONTEXT: Final = {"help_option_names": ["-h", "--help"]}
_META: Final = "progressive.target"
#: virtual time and controller passes one settle may take (as ``simulate``)
SETTLE_SECONDS: Final = 7 * 24 * 3600.0
SETTLE_PASSES: Final = 20_000
SETTLE_CHUNK: Final = 3600.0
ROLLOUT_GROUPS: Final = ("argoproj.io/v1alpha1", "progressive.dev/v1alpha1")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A failure reported as one ``error: MESSAGE`` line on standard error, exit 1."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, always

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


# -- options -------------------------------------------------------------------------------


def _remember(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and value is not False:
            ctx.meta.setdefault(_META, {})[name] = value
        return value

    return callback


if TYPE_CHECKING:
    _FloatParam = click.ParamType[float]
else:  # click 8.2 made ParamType generic; 8.1 (which pyproject allows) cannot subscript it
    _FloatParam = click.ParamType


class RequestTimeout(_FloatParam):
    """Seconds (``2.5``), or a duration as kubectl writes it (``30s``, ``1m``); more
    than 0 (kubectl's ``0``, no timeout at all, is refused: every wait is bounded)."""

    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        from progressive.core import parse_duration

        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if not 0 < seconds < float("inf"):
            self.fail(f"must be more than 0, got {value!r}", param, ctx)
        return seconds


def _kube_options() -> list[Callable[[F], F]]:
    """``--context``, ``--kubeconfig``, ``--request-timeout``: how to reach the cluster."""
    return [
        click.option(
            "--context",
            metavar="NAME",
            expose_value=False,
            callback=_remember("context"),
            help="The kubeconfig context to use.",
        ),
        click.option(
            "--kubeconfig",
            metavar="PATH",
            expose_value=False,
            callback=_remember("kubeconfig"),
            help="The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).",
        ),
        click.option(
            "--request-timeout",
            type=RequestTimeout(),
            expose_value=False,
            callback=_remember("request_timeout"),
            help="How long to wait for each answer of the API server: seconds, or 30s, "
            "1m (default: 30s).",
        ),
    ]


def _decorated(f: F, options: Sequence[Callable[[F], F]]) -> F:
    for option in reversed(options):
        f = option(f)
    return f


def kube_options(f: F) -> F:
    """Add ``--context``, ``--kubeconfig`` and ``--request-timeout`` (shared through
    ``ctx.meta`` with the group's, as :func:`connection_options`), for a command that
    only ever talks to a real cluster (``install``); it connects with :func:`connect`."""
    return _decorated(f, _kube_options())


def connection_options(f: F) -> F:
    """Add ``-n``, ``--context``, ``--kubeconfig``, ``--request-timeout``, ``--memory``,
    ``--memory-state``.

    On the group and on each command: the values are shared through ``ctx.meta``; one
    given after the command name wins.
    """
    options = [
        click.option(
            "-n",
            "--namespace",
            metavar="NS",
            expose_value=False,
            callback=_remember("namespace"),
            help="The namespace (default: the kubeconfig context's, else 'default').",
        ),
        *_kube_options(),
        click.option(
            "--memory",
            is_flag=True,
            default=False,
            envvar="PROGRESSIVE_MEMORY",
            expose_value=False,
            callback=_remember("memory"),
            help="Use the in-memory cluster kept in --memory-state (or PROGRESSIVE_MEMORY=1).",
        ),
        click.option(
            "--memory-state",
            metavar="PATH",
            expose_value=False,
            callback=_remember("memory_state"),
            help="The in-memory cluster's state file (implies --memory; default: "
            "${PROGRESSIVE_CACHE:-~/.cache/progressive}/memory.json).",
        ),
    ]
    return _decorated(f, options)


def default_state_path() -> Path:
    cache = os.environ.get("PROGRESSIVE_CACHE") or os.path.join("~", ".cache", "progressive")
    return Path(cache).expanduser() / "memory.json"


class Target:
    """The connection options of one invocation."""

    def __init__(
        self,
        *,
        namespace: str | None = None,
        context: str | None = None,
        kubeconfig: str | None = None,
        request_timeout: float | None = None,
        memory: bool = False,
        memory_state: str | os.PathLike[str] | None = None,
    ) -> None:
        self.namespace = namespace
        self.context = context
        self.kubeconfig = kubeconfig
        self.request_timeout = request_timeout
        self.memory = memory or memory_state is not None
        self.memory_state = Path(memory_state) if memory_state is not None else None

    @classmethod
    def from_context(cls, ctx: click.Context | None = None) -> Target:
        ctx = ctx or click.get_current_context()
        values: dict[str, Any] = dict(ctx.meta.get(_META) or {})
        return cls(**values)

    @property
    def state_path(self) -> Path:
        return self.memory_state or default_state_path()


# -- sessions ------------------------------------------------------------------------------


class Session:
    """One command's view of a cluster: the Cluster, the namespace, the time.

    Args:
        cluster: a :class:`~progressive._shell.kube.KubeCluster` or a MemoryCluster.
        namespace: where names are looked up.
        memory: the MemoryCluster when ``cluster`` is one (``settle`` runs its
            controller; ``now`` is its virtual clock).
        explicit_namespace: whether the user gave ``-n`` (``create`` refuses manifests
            of another namespace then, as kubectl does).
    """

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        *,
        memory: MemoryCluster | None = None,
        explicit_namespace: bool = False,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.memory = memory
        self.explicit_namespace = explicit_namespace
        self.warnings: list[str] = []
        self._settled_at_writes = memory.writes if memory is not None else 0

    @property
    def is_memory(self) -> bool:
        return self.memory is not None

    def now(self) -> float:
        if self.memory is not None:
            return self.memory.clock.now()
        import time

        return time.time()

    async def serves(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves the kind (the in-memory one serves every kind)."""
        if self.memory is not None:
            return True
        from progressive._shell.kube import KubeCluster

        assert isinstance(self.cluster, KubeCluster)
        return await self.cluster.serves(api_version, kind)

    async def namespaced(self, api_version: str, kind: str) -> bool:
        if self.memory is not None:
            from progressive._clusters import CLUSTER_SCOPED

            return kind not in CLUSTER_SCOPED
        from progressive._shell.kube import KubeCluster

        assert isinstance(self.cluster, KubeCluster)
        return (await self.cluster.resource(api_version, kind)).namespaced

    async def find(
        self, kind: str, name: str, groups: Sequence[str] = ROLLOUT_GROUPS
    ) -> dict[str, Any]:
        """The ``kind`` named ``name`` in the session's namespace, in the first of
        ``groups`` that has one.

        Raises:
            CliError: there is none (saying so when no group serves the kind at all).
        """
        from progressive._clusters import Ref

        for api_version in groups:
            found = await self.cluster.get(Ref(api_version, kind, self.namespace, name))
            if found is not None:
                return found
        served = [g for g in groups if await self.serves(g, kind)]
        if not served:
            raise CliError(
                f"the server serves no {kind} ({' or '.join(groups)}): are the CRDs "
                "installed? (progressive install --crds-only)"
            )
        raise CliError(f'{kind.lower()} "{name}" not found in namespace "{self.namespace}"')

    async def find_rollout(self, name: str) -> dict[str, Any]:
        return await self.find("Rollout", name)

    async def rollout_to_change(self, name: str) -> dict[str, Any]:
        """The Rollout ``name``, for a command that changes it or waits on it.

        Raises:
            NotFound: there is none.
            BeingDeleted: it is being deleted (a finalizer holds it): the controller
                no longer acts on it, so the command would do nothing.
        """
        from progressive.client import rollout_to_change

        return await rollout_to_change(self.cluster, self.namespace, name)

    async def list_kind(
        self, kind: str, namespace: str | None, groups: Sequence[str] = ROLLOUT_GROUPS
    ) -> list[dict[str, Any]]:
        """Every ``kind`` in ``namespace`` (None: all), across ``groups``, by namespace
        and name."""
        out: list[dict[str, Any]] = []
        for api_version in groups:
            out.extend(await self.cluster.list(api_version, kind, namespace))
        return sorted(
            out,
            key=lambda o: (
                str((o.get("metadata") or {}).get("namespace", "")),
                str((o.get("metadata") or {}).get("name", "")),
            ),
        )

    @property
    def dirty(self) -> bool:
        """Whether anything was written since the last settle (in memory)."""
        return self.memory is not None and self.memory.writes != self._settled_at_writes

    async def settle(self) -> None:
        """In memory: run the controller (and the Deployment stand-in) on the virtual
        clock until nothing more is scheduled.  On a real cluster: nothing (its
        controller runs on its own)."""
        memory = self.memory
        if memory is None or not self.dirty:
            return
        from progressive._shell.controller import Controller, PassResult

        from ._deployments import sync_deployments

        _quiet_logs()
        clock = memory.clock
        until = clock.now() + SETTLE_SECONDS
        controller = Controller(memory, clock=clock)
        seen: set[str] = set()
        last_change = [memory.writes, clock.now()]

        async def after_pass(result: PassResult) -> None:
            # the Deployment stand-in answers each pass at once (a workloadRef's
            # scale-down removes the Deployment's pods at the moment it is asked)
            await sync_deployments(memory)
            if memory.writes != last_change[0]:
                last_change[:] = [memory.writes, clock.now()]

        while True:
            await sync_deployments(memory)
            # an hour of virtual time at a time, so that a Rollout failing over and
            # over (backing off, never idle) stops the settle after an hour, not a week
            result = await controller.settle(
                until=min(until, clock.now() + SETTLE_CHUNK),
                max_passes=SETTLE_PASSES,
                wakeup=memory.next_event_at,
                after_pass=after_pass,
            )
            for error in result.errors:
                line = f"reconciling {error.key} failed: {error.error}"
                if line not in seen:
                    seen.add(line)
                    self.warnings.append(line)
            if result.errors and not result.idle:
                break
            if not result.idle:
                if clock.now() >= until or result.passes >= SETTLE_PASSES:
                    self.warnings.append(
                        "the in-memory controller stopped after 7 virtual days or "
                        f"{SETTLE_PASSES} passes; run a command again to go on"
                    )
                    break
                continue
            if await sync_deployments(memory) == 0:
                break
        if clock.now() > last_change[1] and memory.writes == last_change[0]:
            # Nothing changed after the last write: the controller only woke for timers
            # that found nothing to do.  Stop the clock at the last change, so that the
            # next command (and the ages shown) go on from the moment things came to rest.
            from progressive._shell.clocks import VirtualClock

            memory.clock = VirtualClock(last_change[1])
        self._settled_at_writes = memory.writes


def _quiet_logs() -> None:
    """No log records on the terminal: the controller logs a failed reconcile with its
    traceback, the Kubernetes client a missing file; the CLI reports those as one line
    itself (:attr:`Session.warnings`, :class:`CliError`)."""
    import logging

    for name in ("progressive", "kubernetes_asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _check_kubeconfig(kubeconfig: str | None) -> None:
    """A clear error when there is no kubeconfig to read (and no Pod to run in)."""
    if kubeconfig is not None:
        if not Path(kubeconfig).expanduser().is_file():
            raise CliError(f"kubeconfig {kubeconfig} not found")
        return
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if paths:
        if not any(Path(p).expanduser().is_file() for p in paths):
            raise CliError(f"no kubeconfig file found in KUBECONFIG ({os.pathsep.join(paths)})")
        return
    if Path("~/.kube/config").expanduser().is_file() or os.environ.get("KUBERNETES_SERVICE_HOST"):
        return
    raise CliError(
        "no kubeconfig: set KUBECONFIG or pass --kubeconfig (or use --memory for the "
        "in-memory cluster)"
    )


def _kubeconfig_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace of the kubeconfig context (or the Pod's, in a cluster), if any."""
    path = kubeconfig or (os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None)
    if path is None:
        default = Path("~/.kube/config").expanduser()
        if default.is_file():
            path = str(default)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            token_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            try:
                return token_ns.read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
        else:
            return None
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read kubeconfig {path}: {exc}") from None
    if not isinstance(config, Mapping):
        return None
    name = context or config.get("current-context")
    for entry in config.get("contexts") or ():
        if isinstance(entry, Mapping) and entry.get("name") == name:
            ns = (entry.get("context") or {}).get("namespace")
            return str(ns) if ns else None
    if context is not None:
        raise CliError(f'context "{context}" not found in kubeconfig {path}')
    return None


@asynccontextmanager
async def open_session(target: Target) -> AsyncIterator[Session]:
    """A :class:`Session` on the target; in memory, the state is loaded and locked, then
    settled and saved if the command wrote anything (and ended without error)."""
    if target.memory:
        async with _memory_session(target) as session:
            yield session
        return
    _check_kubeconfig(target.kubeconfig)  # before the kubeconfig is read for its namespace
    namespace = target.namespace or _kubeconfig_namespace(target.kubeconfig, target.context)
    async with connect(target) as cluster:
        yield Session(
            cluster, namespace or "default", explicit_namespace=target.namespace is not None
        )


@asynccontextmanager
async def connect(target: Target, **options: Any) -> AsyncIterator[KubeCluster]:
    """The real cluster of ``target``: how every command connects (its kubeconfig and
    context, or the Pod's ServiceAccount; each request bounded by its request timeout,
    transient failures retried for at most 5 seconds).  ``options`` go to
    :meth:`~progressive._shell.kube.KubeCluster.connect` (``field_manager``).

    Raises:
        CliError: there is no kubeconfig, or it cannot be used.
    """
    import attrs

    from progressive._retry import KUBE_RETRY
    from progressive._shell.kube import DEFAULT_REQUEST_TIMEOUT, KubeCluster

    _quiet_logs()
    _check_kubeconfig(target.kubeconfig)
    try:
        cluster = await KubeCluster.connect(
            target.kubeconfig,
            target.context,
            retry=attrs.evolve(KUBE_RETRY, attempts=3, max_seconds=5.0),
            request_timeout=target.request_timeout or DEFAULT_REQUEST_TIMEOUT,
            **options,
        )
    except CliError:
        raise
    except Exception as exc:  # a missing kubeconfig, an unknown context, bad credentials
        raise CliError(f"cannot connect to the cluster: {_reason(exc)}") from None
    async with cluster:
        yield cluster


@asynccontextmanager
async def _memory_session(target: Target) -> AsyncIterator[Session]:
    path = target.state_path
    with _locked(path):
        cluster = _read_state(path)
        session = Session(
            cluster, target.namespace or "default", memory=cluster, explicit_namespace=False
        )
        start = cluster.writes
        try:
            yield session
        finally:
            # what was written stays written, as on a real cluster, even when the
            # command failed half-way
            try:
                await session.settle()
            finally:
                for warning in session.warnings:
                    click.echo(f"warning: {warning}", err=True)
                if cluster.writes != start:
                    _write_state(path, cluster)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``PATH.lock`` (two commands never interleave)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a+b")
    except OSError as exc:
        raise CliError(f"cannot use the in-memory state {path}: {_reason(exc)}") from None
    with handle:
        _lock(handle)
        yield


def _read_state(path: Path) -> MemoryCluster:
    import json

    from progressive._shell.clocks import VirtualClock
    from progressive.memory import MemoryCluster

    try:
        if not path.exists():
            return MemoryCluster(VirtualClock())
        return MemoryCluster.load(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise CliError(
            f"cannot read the in-memory state {path}: {_reason(exc)} (delete it to start afresh)"
        ) from None


def _write_state(path: Path, cluster: MemoryCluster) -> None:
    import json

    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(cluster.dump(), separators=(",", ":")), "utf-8")
    scratch.replace(path)  # never a half-written state


def _lock(handle: IO[bytes]) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        message = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return " ".join(str(message).split())


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` in an event loop; every failure becomes a one-line :class:`CliError`
    (exit 1), Ctrl-C exits 130 quietly."""
    import anyio

    from ..errors import ClusterError, EditError

    async def guarded() -> T:
        return await main()

    try:
        return anyio.run(guarded)
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None
    except (ClusterError, EditError) as exc:  # no such Rollout, no such revision...
        raise CliError(_reason(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise CliError(f"cannot reach the cluster: {_reason(exc)}") from None
    except Exception as exc:  # the kubernetes client's own errors, a bad server reply
        if type(exc).__module__.startswith(("kubernetes_asyncio", "aiohttp")):
            raise CliError(_reason(exc)) from None
        raise


# -- shell completion ----------------------------------------------------------------------


def complete_rollouts(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Rollout names for shell completion (nothing when the cluster cannot be reached
    within two seconds)."""
    from click.shell_completion import CompletionItem

    target = Target.from_context(ctx)

    async def names() -> list[str]:
        import anyio

        with anyio.move_on_after(2.0):
            if target.memory:
                return _memory_names(target)
            async with open_session(target) as session:
                found = await session.list_kind("Rollout", session.namespace)
                return [str(o["metadata"]["name"]) for o in found]
        return []

    try:
        import anyio

        found = anyio.run(names)
    except Exception:
        return []
    return [CompletionItem(n) for n in found if n.startswith(incomplete)]


def _memory_names(target: Target) -> list[str]:
    import json

    try:
        data = json.loads(target.state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    namespace = target.namespace or "default"
    return sorted(
        str(o["metadata"]["name"])
        for o in data.get("objects") or ()
        if o.get("kind") == "Rollout" and (o.get("metadata") or {}).get("namespace") == namespace
    )
