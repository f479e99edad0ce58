"""The public API: what `__all__` promises exists, is documented, and nothing more leaks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types

import pytest

import progressive
import progressive.client
import progressive.client.commands
import progressive.client.follow
import progressive.client.reading
import progressive.client.state
import progressive.clusters
import progressive.core
import progressive.errors
import progressive.kube
import progressive.metrics
import progressive.routers
import progressive.shell
import progressive.steps
import progressive.testing

PUBLIC = [
    progressive,
    progressive.client,
    progressive.client.commands,
    progressive.client.follow,
    progressive.client.reading,
    progressive.client.state,
    progressive.clusters,
    progressive.core,
    progressive.errors,
    progressive.kube,
    progressive.metrics,
    progressive.routers,
    progressive.shell,
    progressive.steps,
    progressive.testing,
]


@pytest.mark.parametrize("module", PUBLIC, ids=lambda m: m.__name__)
def test_every_name_in_all_exists_once(module: types.ModuleType) -> None:
    names = list(module.__all__)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("module", PUBLIC, ids=lambda m: m.__name__)
def test_public_classes_and_functions_have_docstrings(module: types.ModuleType) -> None:
    undocumented = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = inspect.getdoc(obj) or ""
        # attrs and enums give a generated signature-like docstring: not documentation
        if not doc or doc.startswith(f"{obj.__name__}(") or doc == "An enumeration.":
            undocumented.append(name)
    assert undocumented == []


def test_nothing_public_is_left_out_of_progressive_core_all() -> None:
    public = {
        name
        for name, obj in vars(progressive.core).items()
        if not name.startswith("_") and not isinstance(obj, types.ModuleType)
    }
    assert public - set(progressive.core.__all__) == set()


def test_the_pytest_plugin_is_opt_in() -> None:
    """``pytest_plugins = ["progressive.testing"]`` loads it (tests/test_testing.py runs
    a project that does); nothing loads it into every test session of every user."""
    from importlib.metadata import entry_points

    ours = [e for e in entry_points(group="pytest11") if e.value.startswith("progressive")]
    assert ours == []
    assert {"controller", "memory_cluster", "scripted_metrics", "virtual_clock"} <= set(
        progressive.testing.__all__
    )


def _exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of progressive."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(progressive.__path__, "progressive."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


# Not under the root, each for a reason: a simulated process death must escape every
# ``except Exception``; the CLI's one-line error is click's, turned into an exit code.
OUTSIDE_THE_TREE = {"progressive.memory.SimulatedCrash", "progressive.cli._target.CliError"}


def test_every_error_progressive_raises_is_a_progressive_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 30  # the walk found the package's errors
    stray = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if not issubclass(cls, progressive.errors.ProgressiveError)
        and not cls.__name__.startswith("_")  # a module's own control flow
        and f"{cls.__module__}.{cls.__qualname__}" not in OUTSIDE_THE_TREE
    ]
    assert stray == []


def test_the_tree_drawn_in_progressive_errors_is_the_real_one() -> None:
    doc = progressive.errors.__doc__ or ""
    drawn: dict[str, str] = {}  # class -> the class drawn above it
    column: list[tuple[int, str]] = [(0, "ProgressiveError")]
    for line in doc.splitlines():
        match = re.search(r"[├└]── ([A-Z]\w+)", line)
        if match is None:
            continue
        at = match.start()
        while column[-1][0] >= at:
            column.pop()
        drawn[match[1]] = column[-1][1]
        column.append((at, match[1]))
    errors = {
        name
        for name in progressive.errors.__all__
        if inspect.isclass(getattr(progressive.errors, name))
        and issubclass(getattr(progressive.errors, name), BaseException)
    }
    assert errors - {"ProgressiveError"} <= set(drawn), "every error is drawn"
    for name, parent in drawn.items():
        cls = getattr(progressive.errors, name, None) or getattr(progressive.client, name)
        assert parent in {b.__name__ for b in cls.__mro__}, (name, parent)
        assert cls.__bases__[0].__name__ == parent, (name, parent)


def test_one_except_catches_what_the_core_the_cluster_and_the_client_raise() -> None:
    from progressive import client
    from progressive.core import Rollout

    with pytest.raises(progressive.errors.ProgressiveError):
        Rollout.from_manifest({"kind": "Rollout"})
    with pytest.raises(ValueError):  # still the built-in it was
        Rollout.from_manifest({"kind": "Rollout"})
    assert issubclass(progressive.errors.ApiConflict, progressive.errors.Conflict)
    assert issubclass(client.RolloutFailed, progressive.errors.ProgressiveError)


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        (progressive, "FieldError", "FieldProblem"),
        (progressive, "MeasurementError", "MeasurementFailure"),
        (progressive.core, "FieldError", "FieldProblem"),
        (progressive.metrics, "MeasurementError", "MeasurementFailure"),
    ],
)
def test_a_value_renamed_from_an_error_name_still_answers_with_a_warning(
    module: types.ModuleType, old: str, new: str
) -> None:
    with pytest.warns(DeprecationWarning, match=f"{module.__name__}.{old} is deprecated"):
        assert getattr(module, old) is getattr(module, new)
    assert old not in module.__all__
    with pytest.raises(AttributeError):
        getattr(module, old + "s")
