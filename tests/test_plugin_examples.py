"""The example plugin distributions of examples/plugins/, installed as a user installs a
third party's (``pip install``, from their own pyproject.toml and entry points), then
used by ``progressive lint``, ``progressive simulate`` and progressive's own controller,
with no change to progressive.

They are installed once per session into a folder of their own (``pip install
--target``, no build isolation: hatchling is a test dependency, so nothing is
downloaded) which the commands get on PYTHONPATH; the project's environment is left
as it was, and a command run without that folder shows what they add."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "examples" / "plugins"
CONTOUR = PLUGINS / "progressive-contour-router"
GRAPHITE = PLUGINS / "progressive-graphite-provider"
FLAGD = PLUGINS / "progressive-flagd-step"
PROGRESSIVE = Path(sys.executable).with_name("progressive")


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("plugins")
    subprocess.run(
        [
            sys.executable,
            *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--no-build-isolation", "--no-index", "--target", str(target)),
            *(str(p) for p in sorted(PLUGINS.iterdir()) if (p / "pyproject.toml").exists()),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def run(*args: str, plugins: Path | None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if plugins is not None:
        env["PYTHONPATH"] = str(plugins)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


class Graphite:
    """A Graphite render API on 127.0.0.1 whose series holds ``value`` last."""

    def __init__(self) -> None:
        self.value = 0.01
        self.asked: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.asked.append(self.path)
                points = [[0.2, 1], [outer.value, 2], [None, 3]]
                body = json.dumps([{"target": "errors", "datapoints": points}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def graphite() -> Iterator[Graphite]:
    server = Graphite()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join(timeout=10)


def graphite_files(tmp_path: Path, url: str) -> Path:
    text = (GRAPHITE / "rollout.yaml").read_text().replace("GRAPHITE", url)
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    return path


# -- the router ------------------------------------------------------------------------------


def test_lint_takes_the_contour_router_once_installed(installed: Path) -> None:
    files = str(CONTOUR / "rollout.yaml")
    done = run(str(PROGRESSIVE), "lint", files, plugins=installed)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert "no problems" in done.stderr
    without = run(str(PROGRESSIVE), "lint", files, plugins=None)
    assert without.returncode == 1
    assert "the traffic router plugin 'argoproj-labs/contour' is not installed" in without.stdout


def test_simulate_moves_the_httpproxy_weights(installed: Path) -> None:
    files = str(CONTOUR / "rollout.yaml")
    done = run(str(PROGRESSIVE), "simulate", "--json", "--show-objects", files, plugins=installed)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    canary_weights = [
        service["weight"]
        for line in lines
        for obj in line.get("objects", ())
        if obj["kind"] == "HTTPProxy"
        for service in obj["spec"]["routes"][0]["services"]
        if service["name"] == "shop-canary"
    ]
    assert canary_weights == [25, 50, 0]
    assert lines[-1]["phase"] == "Healthy"


@pytest.fixture(scope="session")
def install_dry_run(
    installed: Path,
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``progressive install --dry-run`` with the example plugins installed, and without."""
    done = run(str(PROGRESSIVE), "install", "--dry-run", plugins=installed)
    assert done.returncode == 0, done.stderr
    without = run(str(PROGRESSIVE), "install", "--dry-run", plugins=None)
    assert without.returncode == 0, without.stderr
    return done, without


def controller_rules(done: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    (role,) = [
        d
        for d in yaml.safe_load_all(done.stdout)
        if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == "progressive-controller"
    ]
    return list(role["rules"])


def test_install_grants_the_controller_the_httpproxy_access_the_router_declares(
    install_dry_run: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]],
) -> None:
    done, without = install_dry_run
    assert {
        "apiGroups": ["projectcontour.io"],
        "resources": ["httpproxies"],
        "verbs": ["get", "list", "watch", "patch"],
    } in controller_rules(done)
    assert (
        "granting the contour router (progressive-contour-router 0.1.0): HTTPProxy weights: "
        "get, list, watch, patch on httpproxies.projectcontour.io"
    ) in done.stderr.splitlines()
    assert "projectcontour.io" not in without.stdout and without.stderr == ""


# -- the provider ----------------------------------------------------------------------------


def test_lint_checks_the_graphite_metrics_once_installed(
    installed: Path, tmp_path: Path
) -> None:
    good = graphite_files(tmp_path, "http://graphite.example:8080")
    done = run(str(PROGRESSIVE), "lint", str(good), plugins=installed)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    bad = graphite_files(tmp_path, "graphite.example")  # no scheme: the provider says so
    done = run(str(PROGRESSIVE), "lint", str(bad), plugins=installed)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{bad}#0: spec.metrics[0].provider.graphite.address: must be an http(s) URL"
    ]
    without = run(str(PROGRESSIVE), "lint", str(good), plugins=None)
    assert without.returncode == 0  # a provider nobody installed: a warning
    assert "unknown metric provider plugin 'argoproj-labs/graphite'" in without.stderr


@pytest.mark.parametrize(("value", "phase", "code"), [(0.01, "Healthy", 0), (0.5, "Degraded", 2)])
def test_simulate_judges_the_canary_by_graphite(
    installed: Path, tmp_path: Path, graphite: Graphite, value: float, phase: str, code: int
) -> None:
    graphite.value = value
    files = str(graphite_files(tmp_path, graphite.url))
    done = run(str(PROGRESSIVE), "simulate", "--json", files, plugins=installed)
    assert done.returncode == code, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[-1]["phase"] == phase
    assert graphite.asked and all(p.startswith("/render?target=asPercent") for p in graphite.asked)


# -- the step ---------------------------------------------------------------------------------


def test_lint_and_simulate_take_the_flagd_step_once_installed(installed: Path) -> None:
    files = str(FLAGD / "rollout.yaml")
    done = run(str(PROGRESSIVE), "lint", files, plugins=installed)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    without = run(str(PROGRESSIVE), "lint", files, plugins=None)
    assert without.returncode == 1
    assert "the step plugin 'openfeature/flagd' is not installed" in without.stdout
    done = run(str(PROGRESSIVE), "simulate", "--json", files, plugins=installed)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    ran = [line for line in lines if line.get("event") == "StepPluginRun"]
    assert [(line["step"], line["weight"]) for line in ran] == [(1, 25)]
    assert lines[-1]["phase"] == "Healthy"


# -- both, in progressive's own controller ---------------------------------------------------


def test_install_grants_the_controller_the_configmap_access_the_flagd_step_declares(
    install_dry_run: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]],
) -> None:
    done, without = install_dry_run
    granted = [r for r in controller_rules(done) if "configmaps" in r.get("resources", ())]
    # what the step does to its ConfigMap: read it by name and patch it, nothing more
    assert granted == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}]
    assert done.stderr.splitlines() == [
        "granting the contour router (progressive-contour-router 0.1.0): HTTPProxy weights: "
        "get, list, watch, patch on httpproxies.projectcontour.io",
        "granting the openfeature/flagd step plugin (progressive-flagd-step 0.1.0): flagd "
        "flag configurations: get, patch on configmaps",
    ], "the graphite provider needs nothing: neither a rule nor a warning"
    assert not [r for r in controller_rules(without) if "configmaps" in r.get("resources", ())]


def test_the_controller_releases_with_both_plugins(installed: Path, graphite: Graphite) -> None:
    done = run(sys.executable, str(PLUGINS / "release.py"), graphite.url, plugins=installed)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("AnalysisSuccessful: analysis shop-")
    assert lines[:1] + lines[2:] == [
        "SetWeight: Set canary weight to 25",
        "SetWeight: Set canary weight to 50",
        "SetWeight: Set canary weight to 0",
        "HTTPProxy weights {'shop-stable': 100, 'shop-canary': 0}",
        "phase Healthy",
    ]
    graphite.value = 0.5
    failed = run(sys.executable, str(PLUGINS / "release.py"), graphite.url, plugins=installed)
    assert failed.returncode == 2
    assert "AnalysisFailed" in failed.stdout and "50" not in failed.stdout.split("Aborted")[0]


# -- what is installed -----------------------------------------------------------------------


def test_plugins_lists_the_installed_ones_with_their_distributions(installed: Path) -> None:
    done = run(str(PROGRESSIVE), "plugins", plugins=installed)
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    contour = ["contour", "progressive-contour-router", "0.1.0", "(weights;"]
    assert [*contour, "argoproj-labs/contour)"] in lines
    graphite = ["graphite", "progressive-graphite-provider", "0.1.0"]
    assert [*graphite, "(argoproj-labs/graphite)"] in lines
    assert ["openfeature/flagd", "progressive-flagd-step", "0.1.0"] in lines
    without = run(str(PROGRESSIVE), "plugins", plugins=None)
    assert "contour" not in without.stdout and "flagd" not in without.stdout
