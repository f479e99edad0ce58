"""Step plugins: canary steps progressive does not ship, installed by other
distributions (``progressive.steps`` entry points), as Argo's step plugins are
configured::

    steps:
    - setWeight: 20
    - plugin:
        name: openfeature/flagd          # the plugin's name, <namespace>/<name>
        config: {configMap: flags, flag: new-checkout}

A step plugin is pure, like a router (:class:`StepPlugin`): it names the objects it
reads and writes, says from them whether its change is in place for the Rollout's
current revision (the step is then done), and plans the writes that make the change
and those that undo it.  The core walks the step (``PluginStep``): it asks for the
change (``RunStepPlugin``) until the plugin reports it in place, and on an abort asks
for it to be undone (``UndoStepPlugin``), the last step first.  The shell reads and
writes (``progressive._shell.steps``).  See docs/plugin-step.md.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from .._access import KubeAccess, checked_access
from .._entry_points import STEP_GROUP, PluginFailure, load_group
from ..core._rollout import Rollout
from ..core._steps import PluginStep
from ..errors import FieldProblem
from ..routers import Create, ObjectRef, Objects, Patch, Write

__all__ = [
    "Create",
    "KubeAccess",
    "ObjectRef",
    "Objects",
    "Patch",
    "StepPlugin",
    "StepRegistry",
    "Write",
    "default_registry",
    "plugin_steps",
]


class StepPlugin(Protocol):
    """A step plugin: pure functions of a Rollout, the step's ``config`` and plain-dict
    objects.

    ``name`` is the name Rollouts give it (``plugin.name``, ``<namespace>/<name>``).
    ``done(objects)`` must be True once ``plan``'s writes are made, and ``plan`` must
    then write nothing; ``undo``'s writes must make ``done`` False and leave nothing to
    undo.  The change is the current revision's: ``rollout.template_hash()`` is the
    canary's pod-template hash.

    ``access`` is the Kubernetes access the plugin needs on the objects it reads
    (``get``: the shell reads them one by one) and writes (``patch``, ``create``), a
    sequence of :class:`KubeAccess`, which ``progressive install`` grants the
    controller.  Optional: a plugin without it (or None, what a class subclassing this
    Protocol without saying inherits) still loads, and ``progressive install`` warns
    that it grants it nothing.
    """

    @property
    def name(self) -> str: ...

    @property
    def access(self) -> Sequence[KubeAccess] | None:
        """The Kubernetes access the plugin needs; None: it declares none."""
        return None

    def validate(self, rollout: Rollout, config: Mapping[str, Any]) -> list[FieldProblem]:
        """Problems with the step's ``config`` (paths under ``config``)."""
        ...

    def refs(self, rollout: Rollout, config: Mapping[str, Any]) -> tuple[ObjectRef, ...]:
        """Every object the step reads or writes."""
        ...

    def done(self, rollout: Rollout, config: Mapping[str, Any], objects: Objects) -> bool:
        """Whether the change is in place for the Rollout's current revision."""
        ...

    def plan(
        self, rollout: Rollout, config: Mapping[str, Any], objects: Objects
    ) -> Sequence[Write]:
        """The writes that make the change (none when it is in place)."""
        ...

    def undo(
        self, rollout: Rollout, config: Mapping[str, Any], objects: Objects
    ) -> Sequence[Write]:
        """The writes that undo it (none when there is nothing to undo)."""
        ...


def plugin_steps(rollout: Rollout) -> list[tuple[int, PluginStep]]:
    """The plugin steps of ``rollout``'s canary, with their indexes."""
    canary = rollout.canary
    if canary is None:
        return []
    return [(i, s) for i, s in enumerate(canary.steps) if isinstance(s, PluginStep)]


_MEMBERS = ("name", "validate", "refs", "done", "plan", "undo")


def _as_step_plugin(name: str, value: object) -> StepPlugin:
    plugin: Any = value() if isinstance(value, type) else value
    missing = [m for m in _MEMBERS if not hasattr(plugin, m)]
    if missing:
        raise TypeError(
            f"{type(plugin).__name__} is not a StepPlugin (it lacks {', '.join(missing)})"
        )
    if not isinstance(plugin.name, str) or "/" not in plugin.name:
        raise TypeError(f"its name must be <namespace>/<name>, got {plugin.name!r}")
    checked_access(plugin, type(plugin).__name__)
    return plugin  # type: ignore[no-any-return]


class StepRegistry:
    """The step plugins a controller has, by name; :func:`default_registry` holds the
    installed ones (``progressive.steps`` entry points)."""

    def __init__(self, plugins: Iterable[StepPlugin] = ()) -> None:
        self._plugins: dict[str, StepPlugin] = {}
        self._origin: dict[str, str] = {}
        self._refused: dict[str, str] = {}  # name (or entry point name) -> why
        self.failures: list[PluginFailure] = []
        for plugin in plugins:
            self.register(plugin)

    def register(self, plugin: StepPlugin, distribution: str = "the embedding program") -> None:
        """Answer ``plugin.name`` with ``plugin``.

        Raises:
            ValueError: the name is taken.
        """
        if plugin.name in self._plugins:
            raise ValueError(
                f"{distribution} declares the step plugin {plugin.name!r}, which "
                f"{self._origin[plugin.name]} declares already"
            )
        self._plugins[plugin.name] = plugin
        self._origin[plugin.name] = distribution

    def refuse(self, name: str, message: str) -> None:
        """Steps naming ``name`` are refused with ``message``."""
        self._refused.setdefault(name, message)

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __iter__(self) -> Iterator[StepPlugin]:
        return iter(self._plugins.values())

    def get(self, name: str) -> StepPlugin | None:
        return None if name in self._refused else self._plugins.get(name)

    def origin(self, name: str) -> str:
        """The distribution the plugin comes from."""
        return self._origin.get(name, "")

    @property
    def refused(self) -> Mapping[str, str]:
        """The names refused, and why."""
        return dict(self._refused)

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        """Each plugin step's problems: a plugin nobody installed (or one that could not
        be loaded, with its error), then the plugin's own checks of its ``config``."""
        errors: list[FieldProblem] = []
        for index, step in plugin_steps(rollout):
            path = f"spec.strategy.canary.steps[{index}].plugin"
            refused = self._refused.get(step.name)
            plugin = self._plugins.get(step.name)
            if refused is not None:
                errors.append(FieldProblem(f"{path}.name", refused))
            elif plugin is None:
                installed = ", ".join(sorted(self._plugins)) or "none"
                errors.append(
                    FieldProblem(
                        f"{path}.name",
                        f"the step plugin {step.name!r} is not installed (installed: "
                        f"{installed})",
                    )
                )
            else:
                try:
                    problems = plugin.validate(rollout, step.config)
                except Exception as exc:  # a plugin's bug refuses its steps only
                    problems = [FieldProblem("", f"its checks failed: {exc!r}")]
                errors += [
                    FieldProblem(f"{path}.config.{p.path}" if p.path else path, p.message)
                    for p in problems
                ]
        return errors


def _load() -> StepRegistry:
    registry = StepRegistry()
    plugins, failures = load_group(STEP_GROUP, _as_step_plugin)
    for failure in failures:
        registry.failures.append(failure)
        registry.refuse(
            failure.name,
            f"the step plugin {failure.name!r} of {failure.distribution} cannot be used: "
            f"{failure.message}",
        )
    names: dict[str, list[str]] = {}
    for plugin in plugins:
        names.setdefault(plugin.value.name, []).append(plugin.distribution)
    for plugin in plugins:
        dists = names[plugin.value.name]
        if len(dists) > 1:
            registry.refuse(
                plugin.value.name,
                f"the step plugin {plugin.value.name!r} is declared by {' and '.join(dists)}",
            )
            continue
        registry.register(plugin.value, plugin.distribution)
    return registry


@functools.cache
def _cached() -> StepRegistry:
    return _load()


def default_registry() -> StepRegistry:
    """The installed step plugins (``progressive.steps`` entry points), read once per
    process."""
    return _cached()


def forget() -> None:
    """Read the entry points again on the next :func:`default_registry` (tests)."""
    from .._entry_points import forget as forget_entry_points

    forget_entry_points()
    _cached.cache_clear()
