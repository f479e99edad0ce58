"""``Analysis``: what a user builds an analysis from, and the Argo objects it becomes.

Argo Rollouts spreads one analysis over three kinds of object: an AnalysisTemplate
holds the metrics and the arguments they take, a Rollout refers to it (a
``RolloutAnalysis``: in an ``analysis`` step, in the background, or before and after a
blue-green promotion) with the arguments' values, and the controller runs it as an
AnalysisRun.  An :class:`Analysis` is the first two written once, in code::

    success = Analysis(
        "success-rate",
        metrics=[Metric("success-rate", {"prometheus": {"query": QUERY}}, interval="1m",
                        success_condition="result[0] >= 0.95", failure_limit=2)],
        args=["service"],
    )
    strategy = CanaryStrategy(steps=[SetWeight(20), success.step({"service": "web"})])
    manifests = [success.to_manifest(), rollout.to_manifest()]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ..errors import FieldProblem
from ._analysis_model import (
    AnalysisTemplate,
    MeasurementRetention,
    Metric,
    metrics_tuple,
    retention_tuple,
)
from ._frozen import Immutable, strings
from ._steps import AnalysisArg, AnalysisStep, RolloutAnalysis, VerdictActions

__all__ = ["Analysis"]

_ARGO: Final = VerdictActions()  # a failed run aborts, an inconclusive one pauses

#: An argument's value where a Rollout uses an analysis: a literal, or where to take it
#: from (``{"secretKeyRef": {...}}``, ``{"fieldRef": {...}}``, ``{"podTemplateHashValue":
#: "Latest"}``: Argo's ``valueFrom``).
ArgValue = str | Mapping[str, Any]


def _arguments(value: Iterable[str | AnalysisArg]) -> tuple[AnalysisArg, ...]:
    return tuple(AnalysisArg(a) if isinstance(a, str) else a for a in value)


@attrs.frozen
class Analysis(Immutable):
    """An analysis as a user builds it: the metrics to measure and the arguments they
    take (``{{args.name}}`` in a query or a condition).

    It becomes Argo's objects: :meth:`template` is the AnalysisTemplate to store (a
    ClusterAnalysisTemplate with ``cluster_scope``) and :meth:`to_manifest` its
    manifest; :meth:`use` is the ``RolloutAnalysis`` a Rollout refers to it with, given
    the arguments' values (a strategy's ``analysis``, blue-green's pre- and
    post-promotion analysis) and :meth:`step` the canary step that runs it.  The
    controller makes an AnalysisRun of it when the time comes.

    Attributes:
        name: the template's name.
        metrics: what to measure, and what passes (:class:`~progressive.Metric`).
        args: the arguments the metrics take: a name, or an ``AnalysisArg`` with a
            default value.
        namespace: where the template is stored (ignored with ``cluster_scope``).
        cluster_scope: a ClusterAnalysisTemplate, usable from every namespace.
        dry_run: metrics (names or regular expressions) measured but never failing.
        measurement_retention: how many measurements of which metrics a run keeps.
    """

    name: str
    metrics: tuple[Metric, ...] = attrs.field(converter=metrics_tuple)
    args: tuple[AnalysisArg, ...] = attrs.field(default=(), converter=_arguments)
    namespace: str = "default"
    cluster_scope: bool = False
    dry_run: tuple[str, ...] = attrs.field(default=(), converter=strings)
    measurement_retention: tuple[MeasurementRetention, ...] = attrs.field(
        default=(), converter=retention_tuple
    )

    def template(self) -> AnalysisTemplate:
        """The AnalysisTemplate (or ClusterAnalysisTemplate) to store in the cluster."""
        return AnalysisTemplate(
            name=self.name,
            namespace=None if self.cluster_scope else self.namespace,
            cluster_scope=self.cluster_scope,
            metrics=self.metrics,
            args=self.args,
            dry_run=self.dry_run,
            measurement_retention=self.measurement_retention,
        )

    def to_manifest(self, api_version: str = "progressive.dev/v1alpha1") -> dict[str, Any]:
        """The template's manifest (:meth:`template`), plain data."""
        return self.template().to_manifest(api_version)

    def validate(self) -> list[FieldProblem]:
        """Check the template as a manifest would be checked; returns the warnings.

        Raises:
            ManifestError: every error, at its field path in the template's manifest.
        """
        return self.template().validate()

    def use(
        self,
        args: Mapping[str, ArgValue] | None = None,
        *,
        starting_step: int | None = None,
        verdicts: VerdictActions = _ARGO,
    ) -> RolloutAnalysis:
        """How a Rollout refers to this analysis: its template, and ``args`` (a value,
        or a ``valueFrom`` mapping, per argument name).

        ``starting_step`` is for a canary's background analysis (the step it starts
        at); ``verdicts`` says what a failed, error or inconclusive run does to the
        rollout (abort, pause, continue).
        """
        return RolloutAnalysis(
            templates=(self.template().ref,),
            args=tuple(
                AnalysisArg(name, value=value)
                if isinstance(value, str)
                else AnalysisArg(name, value_from=value)
                for name, value in (args or {}).items()
            ),
            starting_step=starting_step,
            verdicts=verdicts,
        )

    def step(
        self,
        args: Mapping[str, ArgValue] | None = None,
        *,
        verdicts: VerdictActions = _ARGO,
    ) -> AnalysisStep:
        """A canary step that runs this analysis and waits for its verdict."""
        return AnalysisStep(self.use(args, verdicts=verdicts))
