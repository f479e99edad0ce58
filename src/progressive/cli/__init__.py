"""The ``progressive`` command line, also installed as the kubectl plugin
``kubectl-progressive``.  Subcommands live in one module each and are imported only
when run, so ``progressive --help`` stays fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

from ._target import CONTEXT, connection_options

__all__ = ["main"]

# command name -> (module, attribute, the one-line help `progressive --help` shows)
# The help is written here so that listing the commands imports none of them;
# tests/cli/test_help.py keeps it equal to each command's own.
_COMMANDS = {
    "lint": ("progressive.cli._lint", "lint", "Check Argo Rollouts manifests (YAML or..."),
    "simulate": (
        "progressive.cli._simulate",
        "simulate",
        "Simulate updating the Rollout in FILE...",
    ),
    "demo": ("progressive.cli._demo", "demo", "Watch two releases of a demo storefront..."),
    "install": (
        "progressive.cli._install",
        "install",
        "Install the progressive.dev CRDs, RBAC and...",
    ),
    "cluster": (
        "progressive.cli._cluster",
        "cluster",
        "A local Kubernetes control plane (etcd,...",
    ),
    "plugins": (
        "progressive.cli._plugins",
        "plugins",
        "List the routers, metric providers and step...",
    ),
    "controller": (
        "progressive.cli._controller",
        "controller",
        "Run the controller: reconcile Rollouts on...",
    ),
    # the kubectl plugin (docs/cli.md)
    "get": ("progressive.cli._rollouts", "get", "Show a Rollout or an Experiment: its status..."),
    "list": ("progressive.cli._rollouts", "list_", "List Rollouts or Experiments."),
    "promote": ("progressive.cli._edits", "promote", "Promote rollout NAME: end the current..."),
    "abort": (
        "progressive.cli._edits",
        "abort",
        "Abort a Rollout's update: back to the stable revision.",
    ),
    "retry": ("progressive.cli._edits", "retry", "Retry an aborted Rollout."),
    "restart": (
        "progressive.cli._edits",
        "restart",
        "Restart the pods of rollout NAME (sets...",
    ),
    "undo": ("progressive.cli._edits", "undo", "Roll rollout NAME back to an earlier..."),
    "set": ("progressive.cli._edits", "set_", "Change a Rollout's pod template."),
    "pause": ("progressive.cli._edits", "pause", "Pause a Rollout (spec.paused)."),
    "resume": (
        "progressive.cli._edits",
        "resume",
        "Resume a Rollout paused with `pause` (clears spec.paused).",
    ),
    "status": ("progressive.cli._status", "status", "Wait until rollout NAME is Healthy or..."),
    "create": (
        "progressive.cli._create",
        "create",
        "Create the objects in the files (Rollouts,...",
    ),
    "terminate": (
        "progressive.cli._create",
        "terminate",
        "Stop a running AnalysisRun or Experiment.",
    ),
    "version": (
        "progressive.cli._version",
        "version",
        "Show the version of progressive and what it runs on.",
    ),
    "dashboard": (
        "progressive.cli._dashboard",
        "dashboard",
        "Serve a web page of the Rollouts, live: status,...",
    ),
    "migrate": (
        "progressive.cli._migrate",
        "migrate",
        "Move a workload under a Rollout, without...",
    ),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        command: Any = getattr(importlib.import_module(target[0]), target[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their static help, importing none of them."""
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings=CONTEXT)
@click.version_option(package_name="progressive")
@connection_options
def main() -> None:
    """Progressive delivery for Kubernetes: canary, blue-green, analysis, rollback.

    Runs as `progressive ...` or, installed on the PATH, as `kubectl progressive ...`.
    The connection options (-n, --context, --kubeconfig, --memory) may come before
    or after the command's name.  Shell completion (bash; zsh and fish alike):
    eval "$(_PROGRESSIVE_COMPLETE=bash_source progressive)".
    """
