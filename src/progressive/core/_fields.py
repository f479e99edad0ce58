"""Reading untrusted manifest data with field paths.

A :class:`Fields` wraps one mapping of a manifest and the path that leads to it.  Its
getters return a typed value or a default and *record* a :class:`FieldProblem` when the
value has the wrong type or range, so a loader can read a whole object and report every
problem at once.  Nothing here raises on bad data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import FieldProblem
from ._durations import parse_duration

__all__ = ["Fields", "describe"]

# The getters below are named after the types they read; these aliases keep the
# builtins usable in their annotations.
_Str = str
_Int = int
_Bool = bool

_PERCENT = re.compile(r"[0-9]{1,4}%")

# Numbers larger than this are certainly typos (and would make replica math absurd).
MAX_INT = 1_000_000


def describe(value: object) -> str:
    """A short, safe rendering of a bad value for an error message."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
        return "a number too large"  # repr() of a 5,000-digit int raises
    try:
        text = repr(value)
    except ValueError:
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


class Fields:
    """A mapping at ``path`` whose problems are appended to ``errors``."""

    __slots__ = ("_data", "errors", "path")

    def __init__(self, data: object, path: _Str, errors: list[FieldProblem]) -> None:
        self.path = path
        self.errors = errors
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.error(f"must be an object, got {type(data).__name__}")
            data = {}
        self._data: Mapping[Any, Any] = data

    # -- bookkeeping -------------------------------------------------------------------
    def at(self, key: _Str | _Int) -> _Str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(
        self, message: _Str, key: _Str | _Int | None = None, *, warning: _Bool = False
    ) -> None:
        path = self.path if key is None else self.at(key)
        self.errors.append(FieldProblem(path, message, "warning" if warning else "error"))

    def has(self, key: _Str) -> _Bool:
        return self._data.get(key) is not None

    def raw(self, key: _Str) -> Any:
        return self._data.get(key)

    def keys(self) -> list[_Str]:
        return [k for k in self._data if isinstance(k, str)]

    # -- typed getters -----------------------------------------------------------------
    def obj(self, key: _Str) -> Fields:
        return Fields(self._data.get(key), self.at(key), self.errors)

    def opt_obj(self, key: _Str) -> Fields | None:
        return self.obj(key) if self.has(key) else None

    def items(self, key: _Str) -> Iterator[tuple[_Int, Any]]:
        value = self._data.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.error(f"must be a list, got {type(value).__name__}", key)
            return
        yield from enumerate(value)

    def objs(self, key: _Str) -> Iterator[tuple[_Int, Fields]]:
        for index, item in self.items(key):
            if not isinstance(item, Mapping):
                shown = "null" if item is None else type(item).__name__
                self.error(f"must be an object, got {shown}", f"{key}[{index}]")
                continue
            yield index, Fields(item, f"{self.at(key)}[{index}]", self.errors)

    def str(
        self, key: _Str, default: _Str | None = None, *, required: _Bool = False
    ) -> _Str | None:
        value = self._data.get(key)
        if value is None:
            if required:
                self.error("is required", key)
            return default
        if not isinstance(value, str):
            self.error(f"must be a string, got {describe(value)}", key)
            return default
        if required and not value:
            self.error("must not be empty", key)
        return value

    def bool(self, key: _Str, default: _Bool) -> _Bool:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(f"must be true or false, got {describe(value)}", key)
            return default
        return value

    def int(
        self,
        key: _Str,
        default: _Int | None = None,
        *,
        low: _Int | None = 0,
        high: _Int | None = MAX_INT,
        required: _Bool = False,
    ) -> _Int | None:
        value = self._data.get(key)
        if value is None:
            if required:
                self.error("is required", key)
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(f"must be an integer, got {describe(value)}", key)
            return default
        return self.check_range(key, value, low, high, default)

    def check_range(
        self, key: _Str, value: _Int, low: _Int | None, high: _Int | None, default: _Int | None
    ) -> _Int | None:
        if (low is not None and value < low) or (high is not None and value > high):
            shown = describe(value)
            if low is not None and high is not None:
                self.error(f"must be between {low} and {high}, got {shown}", key)
            elif low is not None:
                self.error(f"must be at least {low}, got {shown}", key)
            else:
                self.error(f"must be at most {high}, got {shown}", key)
            return default
        return value

    def duration(self, key: _Str, default: float | None = None) -> float | None:
        value = self._data.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(str(exc), key)
            return default

    def int_or_percent(self, key: _Str, default: _Int | _Str) -> _Int | _Str:
        """``maxSurge``-style values: an int count or a ``"25%"`` string."""
        value = self._data.get(key)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            checked = self.check_range(key, value, 0, MAX_INT, None)
            return default if checked is None else checked
        if isinstance(value, str) and _PERCENT.fullmatch(value):
            if int(value[:-1]) > 100:
                self.error(f"must be a percentage between 0% and 100%, got {value!r}", key)
                return default
            return value
        self.error(f"must be an integer or a percentage such as '25%', got {describe(value)}", key)
        return default

    def mapping(self, key: _Str) -> dict[_Str, Any]:
        """A free-form object kept as plain data (labels, pod templates, router configs)."""
        value = self._data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(f"must be an object, got {type(value).__name__}", key)
            return {}
        return {str(k): v for k, v in value.items()}

    def string_map(self, key: _Str) -> dict[_Str, _Str]:
        """Labels and annotations: string keys to string values."""
        out: dict[str, str] = {}
        for k, v in self.mapping(key).items():
            if not isinstance(v, str):
                self.error(f"must be a string, got {describe(v)}", f"{key}.{k}")
            else:
                out[k] = v
        return out

    def unknown(self, known: frozenset[_Str], *, error: _Bool = False) -> None:
        """Report fields this version does not know: typos, or newer Argo fields.

        A warning where ignoring the field is harmless; an ``error`` where it would
        change what the object does (a misspelt pause duration would pause forever).
        """
        for key in self.keys():
            if key not in known:
                if error:
                    self.error(f"unknown field; expected one of {', '.join(sorted(known))}", key)
                else:
                    self.error("unknown field (ignored)", key, warning=True)
