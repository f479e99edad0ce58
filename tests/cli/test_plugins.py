"""``progressive plugins``: what this installation has, and the plugins refused."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from progressive.cli import main

from ..installed import install, install_fakes


def test_plugins_lists_progressives_own() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["nginx", "progressive", "(weights,", "header", "routes)"] in lines
    assert ["prometheus", "progressive"] in lines
    assert result.stdout.splitlines()[-2:] == ["step plugins:", "  none"]


def test_plugins_says_which_plugins_were_refused_and_why(site: Path) -> None:
    install(site, "broken-router", "progressive.routers", {"kong": "no_such_module:Kong"})
    install(site, "broken-step", "progressive.steps", {"flag": "no_such_module:Flag"})
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    assert "refused:" in result.stderr
    assert (
        "router kong (from broken-router 1.0): failed to load: ModuleNotFoundError: "
        "No module named 'no_such_module'" in result.stderr
    )
    assert "the step plugin 'flag' of broken-step 1.0 cannot be used" in result.stderr


ROUTERS = """
from progressive.routers import DeclaredRouter, KubeAccess, RouterCapabilities

class Kong(DeclaredRouter):
    def __init__(self):
        access = (KubeAccess("configuration.konghq.com", "kongingresses", "get", "w"),)
        super().__init__("kong", (), RouterCapabilities(), access)

class Bare(DeclaredRouter):
    def __init__(self):
        super().__init__("bare", (), RouterCapabilities(), None)
"""


def test_plugins_says_which_routers_declare_no_kubernetes_access(site: Path) -> None:
    (site / "plugins_cli_routers.py").write_text(ROUTERS)
    install(site, "kong-router", "progressive.routers", {"kong": "plugins_cli_routers:Kong"})
    install(site, "bare-router", "progressive.routers", {"bare": "plugins_cli_routers:Bare"})
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["kong", "kong-router", "1.0", "(weights)"] in lines
    assert [
        *("bare", "bare-router", "1.0", "(weights;"),
        *("no", "Kubernetes", "access", "declared)"),
    ] in lines


def test_plugins_says_which_step_plugins_declare_no_kubernetes_access(site: Path) -> None:
    install_fakes(
        site,
        ("flags-step", "progressive.steps", "flags", "Flags"),
        ("bare-step", "progressive.steps", "bare", "Bare"),
        ("quiet-provider", "progressive.metrics", "quiet", "Quiet"),
    )
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["example/flags", "flags-step", "1.0"] in lines
    assert [
        *("example/bare", "bare-step", "1.0"),
        *("(no", "Kubernetes", "access", "declared)"),
    ] in lines
    # a metric provider that declares nothing needs nothing: no mark
    assert ["quiet", "quiet-provider", "1.0"] in lines


def test_a_step_plugin_or_provider_whose_access_is_no_kube_access_is_refused(
    site: Path,
) -> None:
    install_fakes(
        site,
        ("wrong-step", "progressive.steps", "wrong", "WrongStep"),
        ("wrong-provider", "progressive.metrics", "wrong", "WrongProvider"),
    )
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [
        "  the metric provider plugin 'wrong' of wrong-provider 1.0 cannot be used: "
        "TypeError: WrongProvider.access must be a sequence of KubeAccess, got "
        "[KubeAccess(group='', resources=('secrets',), verbs=('get',), why='a token'), "
        "'configmaps']",
        "  the step plugin 'wrong' of wrong-step 1.0 cannot be used: WrongStep.access must "
        "be a sequence of KubeAccess, got 'configmaps'",
    ]
