"""What a Kubernetes API server would say of a value under a CRD's structural schema:
the fields it refuses (a wrong type, a missing required field, an int32 out of range,
a date-time it cannot parse, a value outside an enum) and the fields it would drop
without a word (not declared, and nothing preserves unknown fields there).

The API server is the reference (the end-to-end tests write through a real one); this
is its fast companion for the unit tests, with the rules CRD schemas use.  CEL rules
(``x-kubernetes-validations``) are not evaluated: the API server's tests cover them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["crd_schema", "problems"]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# RFC 3339 as Go's strfmt reads a date-time (fractional seconds, Z or an offset)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def crd_schema(crd: Mapping[str, Any], version: str = "v1alpha1") -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one version of a CRD."""
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return dict(served["schema"]["openAPIV3Schema"])
    raise KeyError(f"{crd['metadata']['name']} has no version {version}")


def problems(schema: Mapping[str, Any], value: Any, path: str = "") -> list[str]:
    """``path: what is wrong`` for everything the server would refuse or drop."""
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: must not be null"]
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{where}: must be an integer or a string, got {value!r}"]
        return []
    kind = schema.get("type")
    if kind is None:
        return []  # free-form (x-kubernetes-preserve-unknown-fields)
    if kind == "object":
        return _object(schema, value, path)
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: must be an array, got {value!r}"]
        items = schema.get("items") or {}
        out = []
        for i, item in enumerate(value):
            out += problems(items, item, f"{path}[{i}]")
        return out
    return _scalar(schema, kind, value, where)


def _object(schema: Mapping[str, Any], value: Any, path: str) -> list[str]:
    where = path or "<root>"
    if not isinstance(value, Mapping):
        return [f"{where}: must be an object, got {value!r}"]
    out = [
        f"{path + '.' if path else ''}{name}: required"
        for name in schema.get("required") or ()
        if name not in value
    ]
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True
    for key, item in value.items():
        at = f"{path}.{key}" if path else str(key)
        if key in properties:
            out += problems(properties[key], item, at)
        elif isinstance(extra, Mapping):
            out += problems(extra, item, at)
        elif extra is not True and not keep_unknown:
            out.append(f"{at}: not in the schema (the API server drops it)")
    return out


def _scalar(schema: Mapping[str, Any], kind: str, value: Any, where: str) -> list[str]:
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: must be a string, got {value!r}"]
        if schema.get("format") == "date-time" and not _is_date_time(value):
            return [f"{where}: not an RFC 3339 date-time: {value!r}"]
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return [f"{where}: longer than {schema['maxLength']}"]
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return [f"{where}: does not match {schema['pattern']}"]
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: must be an integer, got {value!r}"]
        low, high = INT32 if schema.get("format") == "int32" else INT64
        low = max(low, schema.get("minimum", low))
        high = min(high, schema.get("maximum", high))
        if not low <= value <= high:
            return [f"{where}: {value} is not in [{low}, {high}]"]
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: must be a number, got {value!r}"]
    elif kind == "boolean":
        if not isinstance(value, bool):
            return [f"{where}: must be a boolean, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    return []


def _is_date_time(text: str) -> bool:
    if not _DATE_TIME.match(text):
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True
