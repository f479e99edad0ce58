"""How big and how deep a manifest may be, checked before anything reads it.

A manifest that comes from a YAML file, a JSON body or a caller's own dict may be
nested without end, refer to itself, or (through YAML aliases) hold far more values
than its text suggests.  Reading such a value would go on to crash later, far from
its cause: ``json.dumps`` of a pod template that contains itself, a recursion error
deep in the shell.  :func:`check_bounds` walks a value once, without recursion, and
says what is wrong with it, naming the field where it starts.

Kubernetes objects stay far inside these bounds (the API server refuses bodies over
3 MiB and etcd stores at most 1.5 MiB per object).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..errors import FieldProblem
from ._fields import describe

__all__ = ["MAX_DEPTH", "MAX_VALUES", "check_bounds"]

#: Values nested deeper than this are refused (the object itself is level 1).
MAX_DEPTH: Final = 100
#: Objects with more values than this (every key's value and list item counts, each
#: time it is reached: YAML aliases expanded) are refused.
MAX_VALUES: Final = 1_000_000
# Field paths in these messages show at most this many steps.
_SHOWN_STEPS: Final = 8
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


# One container on the walk: (value, depth, the entry it is in, its key or index there).
_Entry = tuple[object, int, "_Entry | None", "str | int"]


def check_bounds(
    value: object, path: str = "", *, string_keys: bool = False
) -> FieldProblem | None:
    """What makes ``value`` unfit to read, or None.

    Refused: a mapping or list that contains itself (at any depth), nesting deeper than
    :data:`MAX_DEPTH`, more than :data:`MAX_VALUES` values and, with ``string_keys``, a
    mapping key that is not a string (JSON and the API server have only string keys; a
    mix of key types cannot even be hashed in a stable order).  Mappings and lists
    shared by several fields (YAML aliases) are allowed, and counted each time.

    Never recurses, and stops at the first problem: the error's path is the field
    where it is (``spec.template.spec``), shortened after a few steps.
    """
    if not _container(value):
        return None
    count = 1
    stack: list[_Entry] = [(value, 1, None, "")]
    while stack:
        entry = stack.pop()
        node: Any = entry[0]  # a mapping, list or tuple (only those are pushed)
        depth = entry[1]
        items: Iterable[tuple[str | int, object]]
        kind = type(node)
        if kind is dict or (kind is not list and isinstance(node, Mapping)):
            if string_keys:
                for key in node:
                    if not isinstance(key, str):
                        return FieldProblem(
                            _path(entry, path),
                            f"keys must be strings, got {type(key).__name__} {describe(key)}",
                        )
            items = node.items() if string_keys else ((str(k), v) for k, v in node.items())
        else:
            items = enumerate(node)
        count += len(node)
        if count > MAX_VALUES:
            return FieldProblem(
                path, f"has more than {MAX_VALUES} values once YAML aliases are expanded"
            )
        if depth >= MAX_DEPTH and node:
            # a value that contains itself is nested without end: say which it is
            return _cycle(entry, path) or FieldProblem(
                _path(entry, path), f"is nested more than {MAX_DEPTH} levels deep"
            )
        depth += 1
        stack.extend((v, depth, entry, k) for k, v in items if _container(v))
    return None


def _container(value: object) -> bool:
    kind = type(value)
    if kind is dict or kind is list:
        return True
    return kind not in _SCALARS and isinstance(value, Mapping | list | tuple)


def _chain(entry: _Entry) -> list[_Entry]:
    """The entries from the top down to ``entry``."""
    chain: list[_Entry] = []
    at: _Entry | None = entry
    while at is not None:
        chain.append(at)
        at = at[2]
    chain.reverse()
    return chain


def _path(entry: _Entry, base: str) -> str:
    out = base
    for n, (_, _, _, key) in enumerate(_chain(entry)[1:]):
        if n == _SHOWN_STEPS:
            return out + "..."
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else key
    return out


def _cycle(entry: _Entry, base: str) -> FieldProblem | None:
    """The reference that closes a cycle on the way to ``entry``, if there is one."""
    first: dict[int, _Entry] = {}
    for at in _chain(entry):
        seen = first.setdefault(id(at[0]), at)
        if seen is not at:
            where = _path(seen, base) or "the object itself"
            return FieldProblem(_path(at, base), f"refers to a value that contains it ({where})")
    return None
