"""Distributions installed by hand, for the plugin tests: a ``*.dist-info`` folder with
``METADATA`` and ``entry_points.txt`` in a folder on ``sys.path``, which is what
``importlib.metadata`` reads of a distribution pip installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from progressive._entry_points import forget as forget_entry_points
from progressive.routers._registry import forget as forget_routers
from progressive.steps import forget as forget_steps


def forget() -> None:
    """Every registry reads the entry points afresh."""
    forget_entry_points()
    forget_routers()
    forget_steps()


def install(site: Path, dist: str, group: str, entry_points: Mapping[str, str]) -> None:
    """Declare ``entry_points`` (name -> ``module:attribute``) of ``group`` as the
    distribution ``dist`` 1.0's."""
    # named as pip names it: importlib.metadata takes the name from the folder's stem,
    # up to the first "-" (so "broken-router-1.0" would be "broken")
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    with (info / "entry_points.txt").open("a") as out:
        out.write(f"[{group}]\n{lines}\n")


#: Step plugins and metric providers for the tests that install them
#: (:func:`install_fakes`): some declaring their Kubernetes access, some not, some wrongly.
FAKE_PLUGINS = """
from progressive.metrics import KubeAccess


class Step:
    def validate(self, rollout, config):
        return []

    def refs(self, rollout, config):
        return ()

    def done(self, rollout, config, objects):
        return True

    def plan(self, rollout, config, objects):
        return []

    def undo(self, rollout, config, objects):
        return []


class Flags(Step):
    name = "example/flags"
    access = (KubeAccess("", "configmaps", ("get", "patch"), "flag configurations"),)


class Bare(Step):
    name = "example/bare"


class WrongStep(Step):
    name = "example/wrong"
    access = "configmaps"


class Quiet:
    def __init__(self, context):
        pass

    async def measure(self, metric, run):
        return 1


class Tokens(Quiet):
    access = (
        KubeAccess("", "configmaps", "get", "query templates"),
        KubeAccess("", "serviceaccounts/token", "create", "tokens for its service"),
    )


class WrongProvider(Quiet):
    access = [KubeAccess("", "secrets", "get", "a token"), "configmaps"]
"""


def install_fakes(site: Path, *entries: tuple[str, str, str, str]) -> None:
    """Install ``(distribution, group, entry point name, class of FAKE_PLUGINS)``."""
    (site / "fake_plugins.py").write_text(FAKE_PLUGINS)
    for dist, group, name, target in entries:
        install(site, dist, group, {name: f"fake_plugins:{target}"})


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` where the test installs distributions and writes their
    modules; the entry points are read afresh before and after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    forget()
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if str(tmp_path) in str(getattr(module, "__file__", "") or ""):
            del sys.modules[name]
    forget()


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FLAGD_SOURCE = EXAMPLES / "plugins" / "progressive-flagd-step" / "src"


@pytest.fixture
def flagd(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """examples/plugins/progressive-flagd-step installed: its module importable, its
    ``progressive.steps`` entry point declared; the step registry read afresh."""
    monkeypatch.syspath_prepend(str(FLAGD_SOURCE))
    entry_points = {"flagd": "progressive_flagd:FlagdStep"}
    install(site, "progressive-flagd-step", "progressive.steps", entry_points)
    forget_steps()
    yield site
    sys.modules.pop("progressive_flagd", None)
    forget_steps()
