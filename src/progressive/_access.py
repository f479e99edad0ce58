"""The Kubernetes access a router, step plugin or metric provider declares it needs
(:class:`KubeAccess`), which ``progressive install`` grants the controller.

One type for the three kinds of plugin, kept below them (and below
:mod:`progressive._deploy`, which turns the declarations into RBAC rules); public as
``progressive.routers.KubeAccess``, ``progressive.steps.KubeAccess`` and
``progressive.metrics.KubeAccess``.  A plugin declares a sequence of them in its
``access`` member:

* a sequence: what it needs (empty: nothing beyond what every Rollout is granted);
* None, or no member at all: it declares nothing (a plugin written before plugins
  declared their access).  ``progressive install`` grants it nothing, and says so for a
  router or a step plugin (which read and write objects by nature); a metric provider
  declaring nothing is taken to need nothing (most reach their own service over HTTP).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import attrs

__all__ = ["ACCESS_VERBS", "KubeAccess", "access_of", "checked_access"]

#: the verbs a plugin may ask for: what reading and writing its own objects takes
#: (never ``*``, ``deletecollection``, ``escalate``, ``bind`` or ``impersonate``)
ACCESS_VERBS: Final = ("get", "list", "watch", "create", "update", "patch", "delete")


def _names(value: Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen
class KubeAccess:
    """Kubernetes access a plugin needs, and why: ``verbs`` on ``resources`` (plural
    names, ``httpproxies``) of the API ``group`` (``""``: the core group), in the
    namespaces of the Rollouts that use it.  ``progressive install`` grants the
    controller what the routers, step plugins and metric providers installed declare
    (their ``access``).

    Raises:
        ValueError: a field is empty, has a ``*``, or a verb is not one of
            :data:`ACCESS_VERBS`.
    """

    group: str
    resources: tuple[str, ...] = attrs.field(converter=_names)
    verbs: tuple[str, ...] = attrs.field(converter=_names)
    why: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.group, str) or "*" in self.group:
            raise ValueError(f"KubeAccess.group: an API group name, got {self.group!r}")
        if not self.resources or not all(
            isinstance(r, str) and r and "*" not in r for r in self.resources
        ):
            raise ValueError(
                "KubeAccess.resources: one or more resource names (no '*'), got "
                f"{list(self.resources)!r}"
            )
        if not self.verbs or any(v not in ACCESS_VERBS for v in self.verbs):
            raise ValueError(
                f"KubeAccess.verbs: one or more of {', '.join(ACCESS_VERBS)}, got "
                f"{list(self.verbs)!r}"
            )
        if not isinstance(self.why, str) or not self.why.strip():
            raise ValueError("KubeAccess.why: say why the plugin needs it")


def access_of(plugin: object) -> tuple[KubeAccess, ...] | None:
    """The Kubernetes access ``plugin`` declares (its ``access``); None when it declares
    none."""
    access = getattr(plugin, "access", None)
    return None if access is None else tuple(access)


def checked_access(plugin: object, what: str) -> tuple[KubeAccess, ...] | None:
    """:func:`access_of` ``plugin``, checked as a registry loads a plugin.

    Raises:
        TypeError: its ``access`` is neither None nor a sequence of KubeAccess (the
            message names ``what``, the plugin's class).
    """
    access = getattr(plugin, "access", None)
    if access is not None and (
        isinstance(access, str | bytes | KubeAccess)
        or not isinstance(access, Iterable)
        or not all(isinstance(a, KubeAccess) for a in access)
    ):
        raise TypeError(f"{what}.access must be a sequence of KubeAccess, got {access!r}")
    return access_of(plugin)
