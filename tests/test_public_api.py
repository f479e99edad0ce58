"""The public API: what `__all__` promises exists, is documented, and nothing more leaks."""

from __future__ import annotations

import inspect
import types

import pytest

import progressive
import progressive.client
import progressive.client.commands
import progressive.client.follow
import progressive.client.reading
import progressive.client.state
import progressive.core
import progressive.metrics
import progressive.routers

PUBLIC = [
    progressive,
    progressive.client,
    progressive.client.commands,
    progressive.client.follow,
    progressive.client.reading,
    progressive.client.state,
    progressive.core,
    progressive.metrics,
    progressive.routers,
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
