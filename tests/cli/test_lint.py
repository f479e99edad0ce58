"""``progressive lint``: exit codes and the exact ``FILE: path: message`` lines."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from progressive.cli import main
from progressive.core._router_keys import ARGO_ROUTER_KEYS
from progressive.routers import ROUTERS

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: app
spec:
  replicas: 3
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers: [{name: app, image: "nginx:1.25"}]
  strategy:
    canary:
      canaryService: app-canary
      stableService: app-stable
      trafficRouting:
        nginx: {stableIngress: app}
      steps:
      - setWeight: 20
      - analysis:
          templates: [{templateName: success-rate}]
      - pause: {duration: 10m}
"""

TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 1m
    successCondition: result[0] >= 0.95
    provider:
      prometheus: {address: "http://prometheus:9090", query: "vector(1)"}
"""

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: app-canary}
---
apiVersion: v1
kind: Service
metadata: {name: app-stable}
"""

BAD = ROLLOUT.replace("setWeight: 20", "setWeight: 150").replace(
    "duration: 10m", "duration: 10 minutes"
)
BAD_LINES = [
    "bad.yaml: spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, got 150",
    "bad.yaml: spec.strategy.canary.steps[2].pause.duration: must be a duration such as 30, "
    "'30s', '5m' or '1h', got '10 minutes'",
]
MISSING_TEMPLATE = (
    "rollout.yaml: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
    "AnalysisTemplate 'success-rate' is not in the loaded files"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a complete app, a bad rollout, and file names relative to it."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "rollout.yaml").write_text(ROLLOUT)
    (tmp_path / "app" / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "app" / "services.yaml").write_text(SERVICES)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "rollout.yaml").write_text(ROLLOUT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lint(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["lint", *args], input=input)


def out(result: Result) -> list[str]:
    return result.stdout.splitlines()


def err(result: Result) -> list[str]:
    return result.stderr.splitlines()


def test_a_complete_folder_is_clean(project: Path) -> None:
    result = lint("app")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert err(result) == [
        "checked 3 files (1 AnalysisTemplate, 1 Rollout, 2 Services): no problems"
    ]


def test_errors_go_to_stdout_one_line_each(project: Path) -> None:
    result = lint("bad.yaml")
    assert result.exit_code == 1
    assert out(result) == BAD_LINES
    assert err(result)[-1] == "checked 1 file (1 Rollout): 2 errors, 0 warnings"


def test_warnings_go_to_stderr_and_do_not_fail(project: Path) -> None:
    result = lint("rollout.yaml")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert err(result) == [
        "warning: rollout.yaml: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "AnalysisTemplate 'success-rate' is not in the loaded files; it must exist in the cluster",
        "warning: rollout.yaml: spec.strategy.canary.canaryService: Service 'app-canary' is not "
        "in the loaded files; it must exist in the cluster",
        "warning: rollout.yaml: spec.strategy.canary.stableService: Service 'app-stable' is not "
        "in the loaded files; it must exist in the cluster",
        "checked 1 file (1 Rollout): 0 errors, 3 warnings",
    ]


def test_strict_makes_missing_templates_errors(project: Path) -> None:
    result = lint("--strict", "rollout.yaml")
    assert result.exit_code == 1
    assert out(result) == [MISSING_TEMPLATE]
    # Services stay warnings: they are often managed elsewhere
    assert [line for line in err(result) if "Service" in line] == [
        "warning: rollout.yaml: spec.strategy.canary.canaryService: Service 'app-canary' is not "
        "in the loaded files; it must exist in the cluster",
        "warning: rollout.yaml: spec.strategy.canary.stableService: Service 'app-stable' is not "
        "in the loaded files; it must exist in the cluster",
    ]
    complete = lint("--strict", "rollout.yaml", "app/template.yaml", "app/services.yaml")
    assert complete.exit_code == 0, complete.output


def test_a_router_the_controller_does_not_implement_is_an_error(project: Path) -> None:
    # every Argo router is built in (ARGO_ROUTER_KEYS): a router no one implements is
    # another's, or a plugin that is not installed
    assert set(ARGO_ROUTER_KEYS) <= set(ROUTERS)
    Path("router.yaml").write_text(ROLLOUT.replace("nginx: {stableIngress: app}", "kong: {}"))
    result = lint("router.yaml")
    assert result.exit_code == 1
    assert out(result) == [
        "router.yaml: spec.strategy.canary.trafficRouting.kong: unknown traffic router 'kong' "
        f"(this controller implements {', '.join(ROUTERS)})"
    ]


def test_router_names_a_router_of_your_own_controller(project: Path) -> None:
    Path("router.yaml").write_text(ROLLOUT.replace("nginx: {stableIngress: app}", "kong: {}"))
    assert lint("router.yaml", "--router", "kong").exit_code == 0
    assert lint("router.yaml", "--router", "contour").exit_code == 1


def test_a_folders_files_that_are_not_manifests_are_skipped(project: Path) -> None:
    # simulate's metric scripts beside the manifests: not Kubernetes objects at all
    Path("app", "metrics-pass.yaml").write_text("success-rate: [[0.99], [0.98]]\n")
    result = lint("app")
    assert result.exit_code == 0, result.output
    assert err(result) == [
        "warning: app/metrics-pass.yaml: not a Kubernetes manifest (no document has "
        "apiVersion, kind, metadata or spec): skipped",
        "checked 4 files (1 AnalysisTemplate, 1 Rollout, 2 Services): 0 errors, 1 warning",
    ]
    # named on its own, the file is read as a manifest
    alone = lint("app/metrics-pass.yaml")
    assert alone.exit_code == 1
    assert out(alone) == [
        "app/metrics-pass.yaml: kind: is required",
        "app/metrics-pass.yaml: apiVersion: is required",
    ]
    # a manifest missing apiVersion and kind is still one (it has metadata or spec)
    Path("app", "typo.yaml").write_text("metadata: {name: x}\nspec: {}\n")
    assert lint("app").exit_code == 1


def test_exclude_skips_what_a_folders_search_finds(project: Path) -> None:
    Path("app", "vendor").mkdir()
    Path("app", "vendor", "bad.yaml").write_text(BAD)
    Path("app", "bad-too.yaml").write_text(BAD)
    assert lint("app").exit_code == 1
    result = lint("app", "--exclude", "app/vendor/", "--exclude", "*/bad-*.yaml")
    assert result.exit_code == 0, result.output
    assert err(result)[-1] == (
        "checked 3 files (1 AnalysisTemplate, 1 Rollout, 2 Services): no problems"
    )
    # a pattern matches the whole path as found; a file named on its own is read
    assert lint("app", "--exclude", "vendor").exit_code == 1
    assert lint("bad.yaml", "--exclude", "bad.yaml").exit_code == 1


def test_a_router_plugin_not_installed_is_an_error(project: Path) -> None:
    plugin = "plugins: {argoproj-labs/contour: {httpProxy: app}}"
    Path("plugin.yaml").write_text(ROLLOUT.replace("nginx: {stableIngress: app}", plugin))
    result = lint("plugin.yaml")
    assert result.exit_code == 1
    assert out(result) == [
        "plugin.yaml: spec.strategy.canary.trafficRouting.plugins.argoproj-labs/contour: the "
        "traffic router plugin 'argoproj-labs/contour' is not installed (plugins answered: "
        f"argoproj-labs/gatewayAPI; routers: {', '.join(ROUTERS)})"
    ]


def test_quiet_prints_errors_only(project: Path) -> None:
    assert lint("-q", "rollout.yaml").stderr == ""
    result = lint("-q", "--strict", "rollout.yaml")
    assert (result.exit_code, out(result), result.stderr) == (1, [MISSING_TEMPLATE], "")


def test_dash_f_like_kubectl(project: Path) -> None:
    result = lint("-f", "bad.yaml", "-f", "app", "--filename", "rollout.yaml")
    assert result.exit_code == 1
    assert out(result) == BAD_LINES
    both = lint("-f", "bad.yaml", "app")
    assert (both.exit_code, out(both)) == (1, BAD_LINES)


def test_a_missing_file(project: Path) -> None:
    result = lint("nope.yaml")
    assert result.exit_code == 1
    assert out(result) == ["nope.yaml: cannot read: No such file or directory"]


def test_standard_input(project: Path) -> None:
    result = lint("-f", "-", input=BAD)
    assert result.exit_code == 1
    assert out(result) == [line.replace("bad.yaml", "<stdin>") for line in BAD_LINES]


def test_multi_document_files_name_the_document(project: Path) -> None:
    Path("all.yaml").write_text("---\n".join([SERVICES, BAD, "[1, 2]\n"]))
    result = lint("all.yaml")
    assert result.exit_code == 1
    assert out(result) == [
        *(line.replace("bad.yaml", "all.yaml#2") for line in BAD_LINES),
        "all.yaml#3: must be an object with apiVersion and kind, got list",
    ]


def test_yaml_syntax_errors(project: Path) -> None:
    Path("broken.yaml").write_text("kind: Rollout\nmetadata:\n  name: [app\n")
    result = lint("broken.yaml")
    assert result.exit_code == 1
    [line] = out(result)
    assert line.startswith("broken.yaml: line 4, column 1: ")


def test_no_files_is_a_usage_error(project: Path) -> None:
    result = lint()
    assert result.exit_code == 2
    assert "give at least one file or folder" in result.stderr


def test_help() -> None:
    result = CliRunner().invoke(main, ["lint", "--help"])
    assert result.exit_code == 0
    assert "--strict" in result.stdout and "-f, --filename FILE" in result.stdout


def test_as_a_real_process(project: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    bad = subprocess.run(
        [sys.executable, "-m", "progressive", "lint", "bad.yaml", "app"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 1, bad.stderr
    assert bad.stdout.splitlines() == BAD_LINES
    assert bad.stderr.splitlines() == [
        "warning: app/rollout.yaml: metadata.name: another Rollout named 'app' is in bad.yaml "
        "(applying both keeps only the last)",
        "checked 4 files (1 AnalysisTemplate, 2 Rollouts, 2 Services): 2 errors, 1 warning",
    ]
    good = subprocess.run(
        [sys.executable, "-m", "progressive", "lint", "--strict", "-f", "app"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (good.returncode, good.stdout) == (0, "")


def _at_most_a_gibibyte() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))


def test_endless_and_blocking_files_are_refused_at_once(project: Path) -> None:
    """``lint /dev/zero`` used to read until memory ran out, a FIFO named *.yaml to block
    for ever; here the command gets a GiB of memory and 30 s, and needs neither."""
    os.mkfifo(project / "app" / "pipe.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "progressive", "lint", "/dev/zero", "app"],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_at_most_a_gibibyte,
    )
    hint = "manifests are read from regular files, or from standard input with '-'"
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"/dev/zero: cannot read a character device: {hint}",
        f"app/pipe.yaml: cannot read a named pipe (FIFO): {hint}",
    ]


def test_lint_imports_no_event_loop_and_no_terminal_ui(project: Path) -> None:
    code = textwrap.dedent(
        """\
        import sys
        from progressive.cli import main
        try:
            main(["lint", "-q", "app"])
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        heavy = {"rich", "anyio", "asyncio", "hypothesis"}
        print(sorted({name.split(".")[0] for name in sys.modules} & heavy))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
