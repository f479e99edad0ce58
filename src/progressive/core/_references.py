"""Checks across documents: do the objects a Rollout names exist, with the args they need?

Pure: the caller (the loader, ``progressive lint``, a test) decides which objects count
as loaded and passes them in.  Whether a missing object is an error depends on what
the loaded files are: when they are meant to be complete (``--strict``), a template
that is not among them is an error; when the cluster may hold more
(``cluster_may_have_more=True``, the lint default), it is a warning that the template
must exist in the cluster.  Services are often managed elsewhere (a chart, a platform
team), so a missing Service is always a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import FieldProblem, ManifestError
from ._names import template_kind
from ._rollout import Rollout, analyses_of, strategy_services
from ._steps import AnalysisArg, ExperimentStep, RolloutAnalysis, TemplateRef, actions_of

if TYPE_CHECKING:
    from ._analysis import AnalysisTemplate

__all__ = ["TemplatePool", "analysis_problems", "check_references", "check_template_references"]

#: The templates of one scope that are known to exist: a mapping from name to the parsed
#: template (None when it exists but could not be read), or just the set of names.
#: Args are checked only for templates given with their content.
TemplatePool: TypeAlias = "Mapping[str, AnalysisTemplate | None] | Set[str]"

_IN_CLUSTER = "; it must exist in the cluster"


def check_references(
    rollout: Rollout,
    templates: TemplatePool,
    cluster_templates: TemplatePool,
    services: Set[str] | None,
    *,
    cluster_may_have_more: bool,
) -> list[FieldProblem]:
    """Problems with what ``rollout`` refers to, each at the rollout's field path.

    Args:
        rollout: the Rollout to check.
        templates: the AnalysisTemplates in the rollout's namespace that were loaded.
        cluster_templates: the ClusterAnalysisTemplates that were loaded.
        services: names of the Services in the rollout's namespace that were loaded,
            or None not to check Services at all.
        cluster_may_have_more: True when objects missing from the loaded set may exist
            in the cluster (missing templates are then warnings, not errors).

    Checked: every template named by a step ``analysis``, an ``experiment`` step's
    ``analyses``, the background ``spec.strategy.canary.analysis`` and the blue-green
    pre/post-promotion analyses is loaded; every arg those templates (and the
    templates they compose) declare without a value is supplied by the rollout; args
    the rollout supplies that no template declares (warning: Argo ignores them,
    usually a typo); and the canary/stable/active/preview Services are loaded
    (warning).
    """
    errors: list[FieldProblem] = []
    for path, analysis in analyses_of(rollout):
        _check_analysis(path, analysis, templates, cluster_templates, cluster_may_have_more, errors)
    for path, analysis in _experiment_analyses(rollout):
        _check_analysis(
            path,
            analysis,
            templates,
            cluster_templates,
            cluster_may_have_more,
            errors,
            template_path=f"{path}.templateName",
        )
    if services is not None:
        _check_services(rollout, services, errors)
    return errors


def analysis_problems(
    rollout: Rollout, lookup: Callable[[TemplateRef], Mapping[str, Any] | None]
) -> list[FieldProblem]:
    """Why the runs of ``rollout``'s analyses could not be built: what the controller
    checks before any analysis starts, as Argo Rollouts does (``getReferencedRolloutAnalyses``
    and ``ValidateAnalysisTemplatesWithType``), so that the Rollout is an invalid spec
    naming the template or argument rather than the owner of a run that cannot be built.

    ``lookup`` returns a (Cluster)AnalysisTemplate as stored, or None when there is none.
    Checked, per analysis of the steps, the background analysis and the blue-green
    pre/post-promotion analyses: every template it names, and those they compose, exists
    (``AnalysisTemplate 'x' not found``, Argo's words) and reads without error; and the
    run builds from them with the analysis's args (no arg without a value, no duplicate
    metric, no condition that fails to parse once the args are in, ``dryRun`` and
    ``measurementRetention`` rules matching a metric).  An arg given by ``valueFrom`` (a
    pod-template hash, a field of the Rollout, a Secret) counts as given, its value being
    read when the run starts.

    An experiment step's analyses are not checked here, as Argo does not: the
    Experiment checks its own templates, and one that cannot be built is that
    analysis's error (the Experiment, then the Rollout, fail with it).

    Each error is at the analysis's field path: ``templates[i]`` for a template it
    names, ``templates`` for one composed by another or for the run as a whole (the
    template's own path in the message), ``args`` for an arg without a value.
    """
    errors: list[FieldProblem] = []
    for path, analysis in analyses_of(rollout):
        errors += _unbuildable(path, analysis, rollout.namespace, lookup)
    return errors


def _unbuildable(
    path: str,
    analysis: RolloutAnalysis,
    namespace: str,
    lookup: Callable[[TemplateRef], Mapping[str, Any] | None],
) -> list[FieldProblem]:
    """:func:`analysis_problems` for the one analysis at ``path``."""
    from ._analysis import (  # the analysis engine is imported lazily
        AnalysisTemplate,
        build_analysis_run,
        collect_templates,
    )
    from ._analysis_model import template_refs_of

    invalid: list[FieldProblem] = []

    def parse(ref: TemplateRef) -> AnalysisTemplate | None:
        obj = lookup(ref)
        if obj is None:
            return None
        try:
            return AnalysisTemplate.from_manifest(obj)
        except ManifestError as exc:
            named = [i for i, r in enumerate(analysis.templates) if r == ref]
            where = f"{path}.templates" + (f"[{named[0]}]" if named else "")
            invalid.append(
                FieldProblem(where, f"{ref.kind} {ref.template_name!r} is invalid: {exc}")
            )
            # what it composes is still looked for: every problem is named at once
            name, scope = ref.template_name, ref.cluster_scope
            return AnalysisTemplate(name, cluster_scope=scope, templates=template_refs_of(obj))

    errors: list[FieldProblem] = []
    try:
        templates = collect_templates(analysis.templates, parse)
    except ManifestError as exc:
        for error in exc.errors:
            if error.path.startswith("templates["):
                errors.append(FieldProblem(f"{path}.{error.path}", error.message))
            else:  # composed: the path is the composing template's
                errors.append(FieldProblem(f"{path}.templates", f"{error.message} ({error.path})"))
        return invalid + errors
    if invalid:
        return invalid
    try:
        build_analysis_run(
            "check",
            namespace,
            templates,
            analysis.args,
            None,
            0.0,
            dry_run=analysis.dry_run,
            measurement_retention=analysis.measurement_retention,
        )
    except ManifestError as exc:
        for error in exc.errors:
            where = "args" if ".spec.args[" in error.path else "templates"
            errors.append(FieldProblem(f"{path}.{where}", f"{error.message} ({error.path})"))
    return errors


def check_template_references(
    template: AnalysisTemplate,
    templates: TemplatePool,
    cluster_templates: TemplatePool,
    *,
    cluster_may_have_more: bool,
) -> list[FieldProblem]:
    """Problems with the templates ``template`` composes (its ``spec.templates``)."""
    errors: list[FieldProblem] = []
    for i, ref in enumerate(template.templates):
        _find(
            ref,
            f"spec.templates[{i}].templateName",
            templates,
            cluster_templates,
            cluster_may_have_more,
            errors,
        )
    return errors


def _find(
    ref: TemplateRef,
    path: str,
    templates: TemplatePool,
    cluster_templates: TemplatePool,
    cluster_may_have_more: bool,
    errors: list[FieldProblem],
) -> bool:
    """Whether ``ref`` is loaded; records an error or warning when it is not."""
    pool, other = (
        (cluster_templates, templates) if ref.cluster_scope else (templates, cluster_templates)
    )
    name = ref.template_name
    if not name:
        return False  # already reported as "is required" by the rollout's reader
    if name in pool:
        return True
    message = f"{ref.kind} {name!r} is not in the loaded files"
    if cluster_may_have_more:
        message += _IN_CLUSTER
    if name in other:
        fix = "remove clusterScope: true" if ref.cluster_scope else "set clusterScope: true"
        message += f" (a {template_kind(not ref.cluster_scope)} of that name is: {fix}?)"
    errors.append(FieldProblem(path, message, "warning" if cluster_may_have_more else "error"))
    return False


def _lookup(
    ref: TemplateRef, templates: TemplatePool, cluster_templates: TemplatePool
) -> AnalysisTemplate | None:
    pool = cluster_templates if ref.cluster_scope else templates
    return pool.get(ref.template_name) if isinstance(pool, Mapping) else None


def _composed(
    refs: Iterable[TemplateRef], templates: TemplatePool, cluster_templates: TemplatePool
) -> tuple[AnalysisTemplate, ...] | None:
    """The templates ``refs`` name plus those they compose, or None when any of them is
    unknown (not loaded, unreadable, or only known by name)."""
    from ._analysis import collect_templates  # the analysis engine is imported lazily

    try:
        return collect_templates(refs, lambda ref: _lookup(ref, templates, cluster_templates))
    except ManifestError:
        return None


def _check_analysis(
    path: str,
    analysis: RolloutAnalysis,
    templates: TemplatePool,
    cluster_templates: TemplatePool,
    cluster_may_have_more: bool,
    errors: list[FieldProblem],
    *,
    template_path: str | None = None,
) -> None:
    """``template_path``: where the one template is named, when not ``templates[i]``
    (an experiment's analysis names it in its own ``templateName``)."""
    all_found = True
    for i, ref in enumerate(analysis.templates):
        if not _find(
            ref,
            template_path or f"{path}.templates[{i}].templateName",
            templates,
            cluster_templates,
            cluster_may_have_more,
            errors,
        ):
            all_found = False
    if not all_found:
        return
    # Args are checked only when every template involved is known: a template that is
    # not (or one composed by it) could give the missing value itself.
    used = _composed(analysis.templates, templates, cluster_templates)
    if used is None:
        return
    declared: dict[str, AnalysisTemplate] = {}
    resolved: set[str] = set()
    for template in used:
        for arg in template.args:
            declared.setdefault(arg.name, template)
            if arg.value is not None or arg.value_from is not None:
                resolved.add(arg.name)
    supplied = {a.name for a in analysis.args if a.value is not None or a.value_from is not None}
    for name, template in declared.items():
        if name not in resolved and name not in supplied:
            errors.append(
                FieldProblem(
                    f"{path}.args",
                    f"missing arg {name!r}: {template.kind} {template.name!r} declares it "
                    "without a value",
                )
            )
    names = ", ".join(repr(t.name) for t in used)
    for j, arg in enumerate(analysis.args):
        if arg.name and arg.name not in declared:
            errors.append(
                FieldProblem(
                    f"{path}.args[{j}].name",
                    f"no template declares arg {arg.name!r} (it is ignored; "
                    f"the templates are {names})",
                    "warning",
                )
            )


def _experiment_analyses(rollout: Rollout) -> list[tuple[str, RolloutAnalysis]]:
    """Each analysis of the Rollout's ``experiment`` steps, as the one template it names
    and its args, with its field path (``steps[i].experiment.analyses[j]``)."""
    out: list[tuple[str, RolloutAnalysis]] = []
    canary = rollout.canary
    for i, whole in enumerate(canary.steps if canary is not None else ()):
        step = next((a for a in actions_of(whole) if isinstance(a, ExperimentStep)), None)
        if step is None:
            continue
        for j, item in enumerate(step.analyses):
            name = item.get("templateName")
            if not isinstance(name, str) or not name:
                continue
            args = tuple(
                AnalysisArg(
                    str(a.get("name") or ""),
                    None if a.get("value") is None else str(a["value"]),
                    a.get("valueFrom") if isinstance(a.get("valueFrom"), Mapping) else None,
                )
                for a in item.get("args") or ()
                if isinstance(a, Mapping)
            )
            ref = TemplateRef(name, item.get("clusterScope") is True)
            path = f"spec.strategy.canary.steps[{i}].experiment.analyses[{j}]"
            out.append((path, RolloutAnalysis((ref,), args)))
    return out


def _check_services(rollout: Rollout, services: Set[str], errors: list[FieldProblem]) -> None:
    for path, name in strategy_services(rollout).items():
        if name not in services:
            errors.append(
                FieldProblem(
                    path, f"Service {name!r} is not in the loaded files{_IN_CLUSTER}", "warning"
                )
            )
