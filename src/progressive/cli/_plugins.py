"""``progressive plugins``: the routers, metric providers and step plugins this
installation has, where each comes from, and the plugins that could not be used.

What lint, simulate and the controller will find (the same registries: progressive's
own, then the ``progressive.routers``, ``progressive.metrics`` and ``progressive.steps``
entry points of the installed distributions).  A router or step plugin that declares
no Kubernetes access (its ``access``) says so: ``progressive install`` grants it
nothing (a metric provider that declares none needs none).  Exit status 1 when a plugin
was refused (it could not be loaded, or it declares a name another one declares), so an
image build can check its plugins.
"""

from __future__ import annotations

import click

__all__ = ["plugins"]


def _capabilities(router: object) -> str:
    caps = getattr(router, "capabilities", None)
    names = [
        label
        for field, label in (
            ("header_routes", "header routes"),
            ("mirror_routes", "mirror routes"),
            ("experiment_weights", "experiment weights"),
            ("ping_pong", "ping-pong"),
        )
        if getattr(caps, field, False)
    ]
    return ", ".join(["weights", *names])


def _undeclared(plugin: object) -> str:
    from progressive._access import access_of

    return "no Kubernetes access declared" if access_of(plugin) is None else ""


def _rows(title: str, rows: list[tuple[str, str, str]]) -> None:
    click.echo(title)
    if not rows:
        click.echo("  none")
    width = max((len(name) for name, _, _ in rows), default=0)
    for name, origin, more in rows:
        click.echo(f"  {name:<{width}}  {origin}" + (f"  ({more})" if more else ""))


@click.command()
def plugins() -> None:
    """List the routers, metric providers and step plugins installed, and the plugins
    refused (exit status 1 when there is one)."""
    from progressive.metrics import default_registry as default_providers
    from progressive.routers import default_registry as default_routers
    from progressive.steps import default_registry as default_steps

    routers = default_routers()
    _rows(
        "traffic routers:",
        [
            (
                r.name,
                routers.origin(r.name),
                "; ".join(
                    filter(
                        None,
                        [
                            _capabilities(r),
                            ", ".join(r.plugin_names),
                            _undeclared(r),
                        ],
                    )
                ),
            )
            for r in routers
        ],
    )
    providers = default_providers()
    _rows(
        "metric providers:",
        [
            (key, providers.origin(key), ", ".join(providers.plugin_names(key)))
            for key in sorted(providers.keys)
        ],
    )
    steps = default_steps()
    _rows("step plugins:", [(p.name, steps.origin(p.name), _undeclared(p)) for p in steps])
    refused = [f"router {f}" for f in routers.failures]
    refused += [message for message in sorted(set(providers.refused.values()))]
    refused += [message for message in sorted(set(steps.refused.values()))]
    if refused:
        click.echo("refused:", err=True)
        for line in refused:
            click.echo(f"  {line}", err=True)
        raise SystemExit(1)
