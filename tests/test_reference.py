"""docs/reference.md covers every public class: each class in the ``__all__`` of a public
module has an entry (``::: path.Name``), or the module that defines it is rendered whole."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import pytest

import progressive
import progressive.core
import progressive.metrics
import progressive.routers
import progressive.testing

DOC = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
ENTRY = re.compile(r"^::: ([\w.]+)", re.M)
MODULES = [progressive, progressive.core, progressive.metrics, progressive.routers]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_class_has_an_entry(module: types.ModuleType) -> None:
    entries = ENTRY.findall(DOC.read_text())
    names = {entry.rsplit(".", 1)[-1] for entry in entries}
    whole = set(entries)
    missing = [
        name
        for name in module.__all__
        if inspect.isclass(cls := getattr(module, name))
        and not issubclass(cls, BaseException)  # progressive.errors draws its tree
        and name not in names
        and cls.__module__ not in whole
    ]
    assert missing == []


def test_the_testing_module_is_rendered_whole() -> None:
    assert "progressive.testing" in ENTRY.findall(DOC.read_text())
