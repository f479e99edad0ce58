"""Read-only plain data: what the model holds of free-form manifest values.

A Rollout keeps parts of its manifest as plain data (the pod template, the selector,
labels, router configurations, a metric's provider).  The model takes its own frozen
copy of them when it is built (:func:`freeze`), so a caller who goes on changing the
dict they passed in changes nothing in the model, and nothing derived from it (the
pod-template hash, computed once from the frozen data) can go stale.

:class:`FrozenDict` and :class:`FrozenList` are ``dict`` and ``list`` subclasses that
refuse every change (``TypeError``).  Being subclasses, they stay what the rest of the
world expects of JSON-like data: ``json.dumps`` writes them, ``isinstance(x, dict)``
holds, and they compare equal to the plain dicts and lists they were made from.  They
are hashable.  Copies are plain and yours to change: ``dict(m)``, ``m.copy()`` and
``copy.copy(m)`` a shallow ``dict``, ``copy.deepcopy(m)`` and :func:`thaw` plain data
all the way down (what ``to_manifest()`` returns).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, NoReturn, SupportsIndex

from ..errors import FieldProblem, ManifestError
from ._bounds import MAX_DEPTH, check_bounds

__all__ = [
    "FrozenDict",
    "FrozenList",
    "Immutable",
    "canonical_json",
    "freeze",
    "freeze_map",
    "strings",
    "thaw",
]

_EMPTY: Final = ()


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(
        f"{type(self).__name__} is read-only: the model's data cannot be changed in place "
        "(attrs.evolve() the object with new data, or change a copy: copy.deepcopy())"
    )


class FrozenDict(dict[str, Any]):
    """A ``dict`` that cannot be changed, holding only frozen values (see the module)."""

    __slots__ = ("_hash", "_json")

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = _EMPTY) -> None:
        items = data.items() if isinstance(data, Mapping) else data
        dict.__init__(self, ((key, _freeze(value, 1)) for key, value in items))
        self._hash: int | None = None
        self._json: str | None = None

    def __hash__(self) -> int:  # type: ignore[override]
        if self._hash is None:
            self._hash = hash(frozenset(self.items()))
        return self._hash

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: object) -> dict[str, Any]:
        plain: dict[str, Any] = thaw(self)
        return plain

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse


class FrozenList(list[Any]):
    """A ``list`` that cannot be changed, holding only frozen values (see the module)."""

    __slots__ = ("_hash",)

    def __init__(self, data: Iterable[Any] = _EMPTY) -> None:
        list.__init__(self, (_freeze(value, 1) for value in data))
        self._hash: int | None = None

    def __hash__(self) -> int:  # type: ignore[override]
        if self._hash is None:
            self._hash = hash(tuple(self))
        return self._hash

    def __reduce__(self) -> tuple[type[FrozenList], tuple[list[Any]]]:
        return (FrozenList, (list(self),))

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: object) -> list[Any]:
        plain: list[Any] = thaw(self)
        return plain

    def __setitem__(self, index: SupportsIndex | slice, value: Any) -> NoReturn:
        _refuse(self)

    __delitem__ = _refuse
    __iadd__ = _refuse
    __imul__ = _refuse
    append = _refuse
    clear = _refuse
    extend = _refuse
    insert = _refuse
    pop = _refuse
    remove = _refuse
    reverse = _refuse
    sort = _refuse


def freeze(value: Any, path: str = "") -> Any:
    """A frozen deep copy of plain data: mappings become :class:`FrozenDict`, lists and
    tuples :class:`FrozenList`, anything else is kept; frozen data is returned as is.

    Raises:
        ManifestError: the value contains itself or is nested more than
            :data:`~progressive.core._bounds.MAX_DEPTH` levels deep (named at ``path``).
    """
    try:
        return _freeze(value, 0)
    except RecursionError:
        problem = check_bounds(value, path) or FieldProblem(path, "is nested too deeply")
        raise ManifestError([problem]) from None


def freeze_map(value: Mapping[str, Any] | None) -> FrozenDict:
    """:func:`freeze` for a field that holds a mapping (None: an empty one)."""
    if type(value) is FrozenDict:
        return value
    if not value:
        return _EMPTY_MAP
    frozen = freeze(value)
    return frozen if type(frozen) is FrozenDict else FrozenDict(frozen)


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _freeze(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS or kind is FrozenDict or kind is FrozenList:
        return value
    if depth > MAX_DEPTH:
        raise RecursionError
    if kind is dict or isinstance(value, Mapping):
        frozen = FrozenDict.__new__(FrozenDict)
        dict.__init__(frozen, [(k, _freeze(v, depth + 1)) for k, v in value.items()])
        frozen._hash = frozen._json = None
        return frozen
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        items = FrozenList.__new__(FrozenList)
        list.__init__(items, [_freeze(v, depth + 1) for v in value])
        items._hash = None
        return items
    return value


def strings(value: Iterable[str]) -> tuple[str, ...]:
    """A field that holds names: a tuple of them, whatever iterable was given."""
    return value if type(value) is tuple else tuple(value)


def thaw(value: Any) -> Any:
    """Plain data (dicts, lists and scalars) from frozen or plain data, all of it copied."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def canonical_json(value: Mapping[str, Any]) -> str:
    """``value`` as JSON with sorted keys and no spaces; computed once for frozen data."""
    if type(value) is FrozenDict:
        if value._json is None:
            value._json = _dumps(value)
        return value._json
    return _dumps(value)


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


_EMPTY_MAP: Final = FrozenDict()


class Immutable:
    """A base of the model's frozen classes: nothing in one can change, so a copy (or a
    deep copy) of one is the object itself."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: object) -> Any:
        return self
