"""``progressive cluster``: a local Kubernetes control plane built from Go modules.

``build`` compiles the binaries (once per version; tens of minutes cold, seconds after),
``up`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
127.0.0.1 and prints ``export KUBECONFIG=...``, leaving them running; ``down`` stops
exactly those; ``crds`` lists or installs the routers' CRDs.  Progress goes to stderr,
so ``eval "$(progressive cluster up)"`` works.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

__all__ = ["cluster"]


def _default_dir() -> Path:
    from progressive._cluster import cache_root

    return cache_root() / "cluster"


def _say(message: str) -> None:
    click.echo(message, err=True)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the cluster's state, logs and kubeconfig "
    "[default: ${PROGRESSIVE_CACHE:-~/.cache/progressive}/cluster].",
)


@click.group()
def cluster() -> None:
    """A local Kubernetes control plane (etcd, API server, controller manager,
    scheduler, kwok) built from Go modules, on 127.0.0.1, for tests and demos."""


@cluster.command()
@click.option("--jobs", "-p", default=2, show_default=True, help="Packages go compiles at once.")
def build(jobs: int) -> None:
    """Build (or find cached) kube-apiserver, kube-controller-manager,
    kube-scheduler, kubectl, etcd and kwok; print their folder."""
    from progressive._cluster import cached_binaries, ensure_binaries

    from ..errors import ControlPlaneError

    try:
        cached = cached_binaries()
        binaries = cached or ensure_binaries(jobs=jobs, progress=_say)
    except ControlPlaneError as exc:
        _fail(exc)
        return
    if cached is not None:
        _say(f"cached: {binaries.versions.key}")
    click.echo(str(binaries.bin_dir))


@cluster.command()
@_dir_option
@click.option("--nodes", default=2, show_default=True, help="kwok Nodes to create.")
@click.option("--crds/--no-crds", default=True, show_default=True, help="Install router CRDs.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds for each wait.")
def up(directory: Path | None, nodes: int, crds: bool, timeout: float) -> None:
    """Start the control plane (building it first if needed) and print
    `export KUBECONFIG=...`; it keeps running until `progressive cluster down`."""
    from progressive._cluster import LocalControlPlane, install_crds

    from ..errors import ControlPlaneError

    plane = LocalControlPlane(
        directory or _default_dir(), nodes=nodes, startup_timeout=timeout, progress=_say
    )
    try:
        kubeconfig = plane.up()
        if crds:
            names = install_crds(kubeconfig, timeout=timeout)
            _say(f"installed {len(names)} CRDs: {', '.join(names)}")
    except BaseException as exc:  # whatever went wrong, leave nothing running
        if plane.state is not None:
            plane.down()
        if isinstance(exc, ControlPlaneError):
            _fail(exc)
        raise
    _say(f"logs in {plane.directory}; stop with: progressive cluster down --dir {plane.directory}")
    click.echo(f"export KUBECONFIG={shlex.quote(str(kubeconfig))}")
    sys.stdout.flush()


@cluster.command()
@_dir_option
@click.option("--timeout", default=15.0, show_default=True, help="Seconds before SIGKILL.")
def down(directory: Path | None, timeout: float) -> None:
    """Stop the processes `progressive cluster up` started in DIR."""
    from progressive._cluster import LocalControlPlane

    from ..errors import ControlPlaneError

    plane = LocalControlPlane(directory or _default_dir())
    state = plane.state
    if state is None:
        _say(f"no cluster state in {plane.directory}")
        return
    running = state.running()
    try:
        killed = plane.down(timeout=timeout)
    except ControlPlaneError as exc:
        _fail(exc)
        return
    names = ", ".join(f"{p.name} ({p.pid})" for p in running) or "nothing was running"
    _say(
        f"stopped: {names}" + (f"; killed after {timeout}s: {', '.join(killed)}" if killed else "")
    )


@cluster.command()
@_dir_option
@click.option("--install", is_flag=True, help="Install them into the cluster of DIR and wait.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait.")
def crds(directory: Path | None, install: bool, timeout: float) -> None:
    """List the router CRDs (Istio, Gateway API, SMI, APISIX, Emissary, Traefik, App Mesh) read
    from their Go modules with the versions each serves, or install them with --install."""
    from progressive._cluster import LocalControlPlane, install_crds, router_crds

    from ..errors import ControlPlaneError

    try:
        documents = router_crds()
        if install:
            plane = LocalControlPlane(directory or _default_dir())
            if not plane.is_up():
                raise ControlPlaneError(f"no cluster is up in {plane.directory}")
            install_crds(plane.kubeconfig, documents, timeout=timeout)
    except ControlPlaneError as exc:
        _fail(exc)
        return
    for doc in documents:
        served = [v["name"] for v in doc["spec"]["versions"] if v.get("served")]
        click.echo(f"{doc['metadata']['name']}: {', '.join(served)}")
