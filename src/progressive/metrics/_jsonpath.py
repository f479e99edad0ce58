"""A small, safe JSONPath subset for the web provider's ``jsonPath``.

Accepted (with or without Kubernetes-style braces, with or without the leading ``$``)::

    {$.data.ok}   $.data.ok   {.data.ok}   {$.items[0].value}   {$.items[-1]}
    {$['key with spaces'].x}   {$.items[*].value}   {$.data.*}   {$}

A path without a wildcard selects one value (a missing key or index is an error); a
path with ``*`` selects a list of every match (possibly empty).  Filters, slices,
unions and recursive descent are not supported: they are errors, never evaluated.
Parsing is a single left-to-right scan; evaluation touches each node once per step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import attrs

from ..errors import JsonPathError

__all__ = ["JsonPath", "JsonPathError"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX: Final = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED: Final = re.compile(r"""\[\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\]""")
_STAR: Final = re.compile(r"\[\s*\*\s*\]|\.\*")
_MAX_LENGTH: Final = 1024
_MAX_MATCHES: Final = 100_000

Step = str | int | None  # a key, an index, or None for a wildcard


@attrs.frozen
class JsonPath:
    source: str
    steps: tuple[Step, ...]

    @property
    def has_wildcard(self) -> bool:
        return None in self.steps

    @classmethod
    def parse(cls, source: str) -> JsonPath:
        if not isinstance(source, str) or len(source) > _MAX_LENGTH:
            raise JsonPathError(f"jsonPath must be a string of at most {_MAX_LENGTH} characters")
        text = source.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1].strip()
        if text.startswith("$"):
            text = text[1:]
        steps: list[Step] = []
        pos = 0
        while pos < len(text):
            if text.startswith("..", pos):
                raise JsonPathError(f"jsonPath {source!r}: recursive descent (..) is not supported")
            m = _STAR.match(text, pos)
            if m:
                steps.append(None)
                pos = m.end()
                continue
            if text[pos] == ".":
                m = _NAME.match(text, pos + 1)
                if m is None:
                    raise JsonPathError(f"jsonPath {source!r}: expected a name at {pos + 1}")
                steps.append(m.group(0))
                pos = m.end()
                continue
            m = _INDEX.match(text, pos)
            if m:
                steps.append(int(m.group(1)))
                pos = m.end()
                continue
            m = _QUOTED.match(text, pos)
            if m:
                raw = m.group(1) if m.group(1) is not None else m.group(2)
                steps.append(re.sub(r"\\(.)", r"\1", raw))
                pos = m.end()
                continue
            raise JsonPathError(
                f"jsonPath {source!r}: unsupported syntax at {pos} (supported: .name, "
                "['name'], [index], [*], .*)"
            )
        return cls(source, tuple(steps))

    def find(self, document: object) -> object:
        """The value the path selects, or the list of matches for a wildcard path.

        Raises:
            JsonPathError: a key or index is missing (paths without a wildcard).
        """
        nodes: list[object] = [document]
        for step in self.steps:
            found: list[object] = []
            for node in nodes:
                if step is None:
                    if isinstance(node, Mapping):
                        found.extend(node.values())
                    elif isinstance(node, list):
                        found.extend(node)
                elif isinstance(step, int):
                    if isinstance(node, list) and -len(node) <= step < len(node):
                        found.append(node[step])
                    elif not self.has_wildcard:
                        raise JsonPathError(f"jsonPath {self.source!r}: no index {step}")
                elif isinstance(node, Mapping) and step in node:
                    found.append(node[step])
                elif not self.has_wildcard:
                    raise JsonPathError(f"jsonPath {self.source!r}: no key {step!r}")
                if len(found) > _MAX_MATCHES:
                    raise JsonPathError(f"jsonPath {self.source!r}: too many matches")
            nodes = found
        return nodes if self.has_wildcard else nodes[0]
