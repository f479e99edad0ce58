"""Building the control plane's binaries from Go modules, cached by version.

kube-apiserver, kube-controller-manager, kube-scheduler and kubectl come from
``k8s.io/kubernetes``, which cannot be ``go install``ed (its go.mod replaces its staging
modules with folders of its own repository).  A small generated wrapper module requires
it and replaces every staging module, read from that go.mod, with the published
``k8s.io/X v0.N.P``; etcd (``go.etcd.io/etcd/server/v3``, whose root is a ``main``
package) is built in the same wrapper, at the version kubernetes itself requires, so the
module graph is the one kubernetes was released with.  kwok is ``go install``ed on its
own (it wants other k8s library versions).

The wrapper and the binaries live under
``${PROGRESSIVE_CACHE:-~/.cache/progressive}/control-plane/<versions>/`` and are never
committed; a build that finished leaves ``bin/.built.json``, so the next call returns at
once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs

from ..errors import ControlPlaneError
from ._gomod import go_binary, go_env, module_download, required_version, staging_modules

__all__ = [
    "BINARIES",
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "KWOK_VERSION",
    "Binaries",
    "Versions",
    "cache_root",
    "cached_binaries",
    "ensure_binaries",
    "wrapper_gomod",
]

KUBERNETES_VERSION = "v1.36.3"  # the newest v1.36 patch the module proxy serves
ETCD_VERSION = "v3.6.8"  # what k8s.io/kubernetes v1.36.3's go.mod requires of etcd/server/v3
KWOK_VERSION = "v0.8.0"

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
BINARIES = ("etcd", *KUBERNETES_COMMANDS, "kwok")

_WRAPPER_MODULE = "progressive.local/controlplane"
_ETCD_MODULE = "go.etcd.io/etcd/server/v3"
_KWOK_PACKAGE = "sigs.k8s.io/kwok/cmd/kwok"
_MARKER = ".built.json"
_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")

Progress = Callable[[str], None]


def _semver(version: str) -> tuple[int, ...]:
    core = version.lstrip("v").split("-", 1)[0].split("+", 1)[0]
    try:
        return tuple(int(part) for part in core.split("."))
    except ValueError as exc:
        raise ControlPlaneError(f"not a semantic version: {version!r}") from exc


@attrs.frozen
class Versions:
    """What the control plane is built from; one cache folder per combination."""

    kubernetes: str = KUBERNETES_VERSION
    etcd: str = ETCD_VERSION
    kwok: str = KWOK_VERSION

    def __attrs_post_init__(self) -> None:
        for version in (self.kubernetes, self.etcd, self.kwok):
            _semver(version)
        if _semver(self.kubernetes)[0] != 1:
            raise ControlPlaneError(f"kubernetes {self.kubernetes}: only v1.x is supported")

    @property
    def key(self) -> str:
        return f"kubernetes-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}"

    @property
    def staging(self) -> str:
        """kubernetes v1.N.P publishes its staging modules as v0.N.P."""
        return "v0" + self.kubernetes[len("v1") :]

    def as_dict(self) -> dict[str, str]:
        return {"kubernetes": self.kubernetes, "etcd": self.etcd, "kwok": self.kwok}


def cache_root() -> Path:
    configured = os.environ.get("PROGRESSIVE_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "progressive"
    return root.expanduser()


def _versions_dir(versions: Versions) -> Path:
    return cache_root() / "control-plane" / versions.key


@attrs.frozen
class Binaries:
    """The built binaries of one :class:`Versions`."""

    bin_dir: Path
    versions: Versions

    def path(self, name: str) -> Path:
        if name not in BINARIES:
            raise KeyError(name)
        return self.bin_dir / name

    def build_record(self) -> dict[str, object]:
        """What the build left in ``.built.json``: versions, seconds, peak memory."""
        record: dict[str, object] = json.loads((self.bin_dir / _MARKER).read_text())
        return record


def cached_binaries(versions: Versions | None = None) -> Binaries | None:
    """The binaries of ``versions`` if a finished build left them, else None."""
    versions = versions or Versions()
    bin_dir = _versions_dir(versions) / "bin"
    if not (bin_dir / _MARKER).is_file():
        return None
    if not all(os.access(bin_dir / name, os.X_OK) for name in BINARIES):
        return None
    return Binaries(bin_dir, versions)


def wrapper_gomod(versions: Versions, kubernetes_gomod: str) -> str:
    """The wrapper module's go.mod: require kubernetes and etcd, replace every staging
    module (as listed by kubernetes' own go.mod) with its published version."""
    modules = staging_modules(kubernetes_gomod)
    if not modules:
        raise ControlPlaneError("k8s.io/kubernetes' go.mod lists no staging modules")
    go_line = next(
        (line for line in kubernetes_gomod.splitlines() if line.startswith("go ")), "go 1.26.0"
    )
    lines = [
        "// Generated by progressive._cluster: builds the local control plane. Not committed.",
        f"module {_WRAPPER_MODULE}",
        "",
        go_line,
        "",
        "require (",
        f"\tk8s.io/kubernetes {versions.kubernetes}",
        f"\t{_ETCD_MODULE} {versions.etcd}",
        ")",
        "",
        "replace (",
        *(f"\t{module} => {module} {versions.staging}" for module in modules),
        ")",
        "",
    ]
    return "\n".join(lines)


def _version_ldflags(versions: Versions) -> str:
    major, minor = _semver(versions.kubernetes)[:2]
    values = {
        "gitVersion": versions.kubernetes,
        "gitMajor": str(major),
        "gitMinor": str(minor),
        "gitTreeState": "clean",
    }
    flags = ["-s", "-w"]
    for package in _VERSION_PACKAGES:
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


@contextlib.contextmanager
def _exclusive(lock_path: Path, timeout: float) -> Iterator[None]:
    """One build per versions folder at a time, across processes."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ControlPlaneError(
                        f"another build holds {lock_path} for more than {timeout:.0f}s"
                    ) from None
                time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_logged(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ControlPlaneError(
                f"{argv[0]} {argv[1]} took more than {timeout:.0f}s; see {log}"
            ) from None
    if code != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise ControlPlaneError(f"{' '.join(argv[:2])} failed ({code}); see {log}:\n{tail}")


def ensure_binaries(
    versions: Versions | None = None,
    *,
    jobs: int = 2,
    timeout: float = 3600.0,
    progress: Progress | None = None,
) -> Binaries:
    """The binaries of ``versions``, built first if no finished build is cached.

    A cold build compiles kubernetes and etcd (tens of minutes on 2 cores) and kwok;
    ``jobs`` is go's ``-p`` (packages compiled at once: memory grows with it)."""
    versions = versions or Versions()
    say = progress or (lambda _msg: None)
    ready = cached_binaries(versions)
    if ready is not None:
        return ready
    root = _versions_dir(versions)
    with _exclusive(root / ".lock", timeout):
        ready = cached_binaries(versions)  # another process may have built it meanwhile
        if ready is not None:
            return ready
        return _build(versions, root, jobs=jobs, timeout=timeout, say=say)


def _build(versions: Versions, root: Path, *, jobs: int, timeout: float, say: Progress) -> Binaries:
    go = go_binary()
    log = root / "build.log"
    wrapper = root / "wrapper"
    partial = root / "bin.partial"
    wrapper.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    started = time.monotonic()

    say(f"reading k8s.io/kubernetes@{versions.kubernetes} from the Go module cache/proxy")
    kubernetes = module_download("k8s.io/kubernetes", versions.kubernetes, timeout=timeout)
    gomod = kubernetes.gomod_text()
    wanted_etcd = required_version(gomod, _ETCD_MODULE)
    if wanted_etcd is not None and _semver(versions.etcd) < _semver(wanted_etcd):
        raise ControlPlaneError(
            f"etcd {versions.etcd} is older than the {wanted_etcd} kubernetes "
            f"{versions.kubernetes} requires; the wrapper would build {wanted_etcd}"
        )
    (wrapper / "go.mod").write_text(wrapper_gomod(versions, gomod), encoding="utf-8")

    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS]
    say(f"building {', '.join(KUBERNETES_COMMANDS)} and etcd {versions.etcd} (log: {log})")
    _run_logged(
        [
            go, "build", "-p", str(jobs), "-trimpath",
            "-ldflags", _version_ldflags(versions),
            "-o", str(partial) + os.sep,
            *packages, _ETCD_MODULE,
        ],
        cwd=wrapper,
        env=go_env({"GOFLAGS": "-mod=mod"}),
        log=log,
        timeout=timeout,
    )  # fmt: skip
    (partial / "server").rename(partial / "etcd")  # go names a /v3 module's binary "server"
    kubernetes_seconds = time.monotonic() - started

    say(f"building kwok {versions.kwok} (log: {log})")
    kwok_started = time.monotonic()
    _run_logged(
        [
            go, "install", "-p", str(jobs), "-trimpath", "-ldflags", "-s -w",
            f"{_KWOK_PACKAGE}@{versions.kwok}",
        ],
        cwd=wrapper,
        env=go_env({"GOFLAGS": "", "GOBIN": str(partial)}),
        log=log,
        timeout=timeout,
    )  # fmt: skip
    kwok_seconds = time.monotonic() - kwok_started

    missing = [name for name in BINARIES if not os.access(partial / name, os.X_OK)]
    if missing:
        raise ControlPlaneError(f"the build left no {', '.join(missing)} in {partial}")
    # The largest resident set of any one go process of the build (compile or link);
    # RUSAGE_CHILDREN counts every child this process waited for, so it is an upper bound.
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    total = round(time.monotonic() - started, 1)
    record = {
        "versions": versions.as_dict(),
        "seconds": {
            "kubernetes_and_etcd": round(kubernetes_seconds, 1),
            "kwok": round(kwok_seconds, 1),
            "total": total,
        },
        "peak_rss_mib": peak_mib,
        "jobs": jobs,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (partial / _MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    final = root / "bin"
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    say(f"built in {total}s into {final}")
    return Binaries(final, versions)
