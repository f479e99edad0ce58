"""The edits to a pod template that ``set image`` and ``undo`` make, as pure functions
on plain objects; :mod:`progressive.client.commands` sends them.

Both change a pod template, the Rollout's or (with ``workloadRef``) its Deployment's,
and the client sends the change as a JSON merge patch carrying the ``resourceVersion``
read, so a concurrent edit is a conflict rather than lost.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..errors import EditError
from ._names import HASH_LABEL, REVISION_ANNOTATION
from ._pod_templates import without_anti_affinity

__all__ = [
    "CONTAINER_KINDS",
    "parse_image_pairs",
    "revision_template",
    "set_images",
    "to_merge_patch",
]

CONTAINER_KINDS: Final = ("initContainers", "containers", "ephemeralContainers")


def parse_image_pairs(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``["web=nginx:1.25", "*=busybox"]`` -> ``[("web", "nginx:1.25"), ("*", "busybox")]``."""
    out = []
    for pair in pairs:
        name, sep, image = pair.partition("=")
        if not sep or not name or not image:
            raise EditError(f"expected CONTAINER=IMAGE, got {pair!r}")
        out.append((name, image))
    return out


def set_images(
    template: Mapping[str, Any], pairs: Sequence[tuple[str, str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod ``template`` with the images of ``pairs`` set, and the merge patch of its
    ``spec`` (the container lists that changed, whole: a merge patch replaces lists).

    ``*`` names every container, init and ephemeral ones included.

    Raises:
        EditError: a named container is in none of the lists.
    """
    new = copy.deepcopy(dict(template))
    spec = new.setdefault("spec", {})
    found: set[str] = set()
    changed: dict[str, Any] = {}
    for key in CONTAINER_KINDS:
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        for container in containers:
            if not isinstance(container, dict):
                continue
            for name, image in pairs:
                if name == "*" or container.get("name") == name:
                    found.add(name)
                    if container.get("image") != image:
                        container["image"] = image
                        changed[key] = containers
    missing = [name for name, _ in pairs if name not in found]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise EditError(f"unable to find container named {names}")
    return new, {"spec": changed} if changed else {}


def revision_template(
    replica_sets: Sequence[Mapping[str, Any]], to_revision: int, current_hash: str | None
) -> tuple[int, dict[str, Any]]:
    """The pod template of revision ``to_revision`` (0: the one before the current),
    from the Rollout's ReplicaSets, without the ``rollouts-pod-template-hash`` label.

    Raises:
        EditError: no such revision (or no history at all).
    """
    by_revision: dict[int, Mapping[str, Any]] = {}
    for rs in replica_sets:
        annotations = (rs.get("metadata") or {}).get("annotations") or {}
        try:
            revision = int(str(annotations.get(REVISION_ANNOTATION)))
        except ValueError:
            continue
        by_revision[revision] = rs
    if not by_revision:
        raise EditError("no rollout history found")
    if to_revision == 0:
        current = None
        for revision, rs in by_revision.items():
            labels = (rs.get("metadata") or {}).get("labels") or {}
            if current_hash is not None and labels.get(HASH_LABEL) == current_hash:
                current = revision
        current = max(by_revision) if current is None else current
        earlier = [r for r in by_revision if r < current]
        if not earlier:
            raise EditError("no previous revision to go back to")
        to_revision = max(earlier)
    chosen = by_revision.get(to_revision)
    if chosen is None:
        known = ", ".join(str(r) for r in sorted(by_revision))
        raise EditError(f"unable to find revision {to_revision} (known: {known})")
    template = without_anti_affinity((chosen.get("spec") or {}).get("template") or {})
    meta = template.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
        meta["labels"].pop(HASH_LABEL, None)
    return to_revision, template


def to_merge_patch(current: object, target: object) -> Any:
    """The RFC 7386 merge patch that turns ``current`` into ``target`` (keys missing
    from ``target`` become ``None``; lists are replaced whole)."""
    if not isinstance(current, Mapping) or not isinstance(target, Mapping):
        return copy.deepcopy(target)
    patch: dict[str, Any] = {}
    for key in current:
        if key not in target:
            patch[key] = None
    for key, value in target.items():
        old = current.get(key)
        if key in current and old == value:
            continue
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            patch[key] = to_merge_patch(old, value)
        else:
            patch[key] = copy.deepcopy(value)
    return patch
