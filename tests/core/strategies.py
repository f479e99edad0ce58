"""Hypothesis strategies for the model: valid Rollouts built in code, in both API groups.

Every object drawn is one ``Rollout.validate()`` accepts and ``to_manifest()`` writes
exactly (fields that are written only when set hold what the reader would give back).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from progressive.core import (
    AnalysisArg,
    AnalysisStep,
    AnalysisTemplate,
    BlueGreenStrategy,
    CanaryStrategy,
    CombinedStep,
    Condition,
    ExperimentStep,
    HeaderMatch,
    MeasurementRetention,
    Metric,
    Pause,
    PauseCondition,
    Rollout,
    RolloutAnalysis,
    RolloutStatus,
    SetCanaryScale,
    SetHeaderRoute,
    SetMirrorRoute,
    SetWeight,
    TemplateRef,
    TrafficRouting,
    WorkloadRef,
)
from progressive.core._analysis_model import RESULT_POLICIES
from progressive.core._names import API_GROUPS
from progressive.core._rollout import AntiAffinity, PingPong
from progressive.core._steps import VERDICT_CHOICES, VerdictActions

names = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
#: free-form manifest data (a router's configuration, a pod template's spec)
plain = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
string_maps = st.dictionaries(names, text, max_size=3)
seconds = st.one_of(st.integers(0, 10**5).map(float), st.sampled_from([0.5, 1.25, 90.001]))

# -- analysis -----------------------------------------------------------------------------

args = st.builds(
    AnalysisArg,
    name=names,
    value=st.none() | text,
    value_from=st.none() | st.dictionaries(names, plain, min_size=1, max_size=2),
).filter(lambda a: a.value is None or a.value_from is None)
verdicts = st.builds(
    VerdictActions,
    on_failed=st.sampled_from(VERDICT_CHOICES["failed"]),
    on_error=st.sampled_from(VERDICT_CHOICES["error"]),
    on_inconclusive=st.sampled_from(VERDICT_CHOICES["inconclusive"]),
)


def analyses(*, starting_step: st.SearchStrategy[int | None] | None = None) -> Any:
    return st.builds(
        RolloutAnalysis,
        templates=st.lists(st.builds(TemplateRef, names, st.booleans()), min_size=1, max_size=3),
        args=st.lists(args, max_size=3),
        dry_run=st.lists(names, max_size=2),
        measurement_retention=st.lists(st.tuples(names, st.integers(0, 50)), max_size=2),
        starting_step=st.none() if starting_step is None else starting_step,
        verdicts=verdicts,
    )


# -- steps -----------------------------------------------------------------------------------

header_matches = st.builds(
    lambda name, kind, value: HeaderMatch(name, **{kind: value}),
    names,
    st.sampled_from(["exact", "regex", "prefix"]),
    text,
)
plain_steps = st.one_of(
    st.builds(SetWeight, st.integers(0, 100)),
    st.builds(Pause, st.none() | seconds),
    st.builds(AnalysisStep, analyses()),
    st.builds(
        ExperimentStep,
        templates=st.lists(st.dictionaries(names, plain, max_size=3), max_size=2),
        duration=st.none() | seconds,
        analyses=st.lists(st.dictionaries(names, plain, max_size=3), max_size=2),
    ),
)
scale_steps = st.one_of(
    st.builds(lambda w: SetCanaryScale(weight=w), st.integers(0, 100)),
    st.builds(lambda r: SetCanaryScale(replicas=r), st.integers(0, 1000)),
    st.just(SetCanaryScale(match_traffic_weight=True)),
)


@st.composite
def combined_steps(draw: st.DrawFn, routes: list[str], *, mirrors: bool) -> CombinedStep:
    """A scale and routes, with at most one step of the other kinds (two actions or
    more: one action is a step of its own)."""
    parts = [draw(scale_steps)] if draw(st.booleans()) else []
    parts.append(draw(st.builds(SetHeaderRoute, st.sampled_from(routes))))
    if mirrors and draw(st.booleans()):
        parts.append(SetMirrorRoute(draw(st.sampled_from(routes))))
    exclusive = draw(st.none() | plain_steps)
    if exclusive is not None:
        parts.append(exclusive)
    if len(parts) < 2:
        parts.append(SetWeight(draw(st.integers(0, 100))))
    return CombinedStep(parts)


def route_steps(routes: list[str], *, mirrors: bool) -> Any:
    header = st.builds(
        SetHeaderRoute, st.sampled_from(routes), st.lists(header_matches, max_size=2)
    )
    if not mirrors:
        return header
    mirror = st.builds(
        SetMirrorRoute,
        st.sampled_from(routes),
        st.lists(st.dictionaries(names, plain, max_size=2), max_size=2),
        st.integers(0, 100),
    )
    return header | mirror


# -- strategies ---------------------------------------------------------------------------------

percent = st.integers(0, 100).map(lambda n: f"{n}%")
count_or_percent = st.integers(0, 10**6) | percent


@st.composite
def canaries(draw: st.DrawFn) -> CanaryStrategy:
    routed = draw(st.booleans())
    routing = None
    ping_pong = None
    steps = st.one_of(plain_steps)
    if routed:
        # routers that can express header routes (and, istio and gatewayAPI, mirrors)
        keys = draw(st.sampled_from([["istio"], ["gatewayAPI"], ["nginx"], ["istio", "nginx"]]))
        routes = draw(st.lists(names, min_size=1, max_size=3, unique=True))
        weight = draw(st.integers(1, 10**6))
        routing = TrafficRouting(
            routers={key: draw(st.dictionaries(names, plain, max_size=2)) for key in keys},
            managed_routes=routes,
            max_traffic_weight=weight,
            max_traffic_weight_set=weight != 100 or draw(st.booleans()),
        )
        mirrors = "nginx" not in keys
        if keys == ["istio"] and draw(st.booleans()):
            ping, pong = draw(st.lists(names, min_size=2, max_size=2, unique=True))
            ping_pong = PingPong(ping, pong)
        steps = (
            plain_steps
            | scale_steps
            | route_steps(routes, mirrors=mirrors)
            | combined_steps(routes, mirrors=mirrors)
        )
    step_list = draw(st.lists(steps, max_size=6))
    surge, unavailable = draw(
        st.tuples(count_or_percent, count_or_percent).filter(
            lambda pair: not all(v in (0, "0%") for v in pair)
        )
    )
    canary, stable = draw(st.lists(names, min_size=2, max_size=2, unique=True))
    return CanaryStrategy(
        steps=step_list,
        canary_service=canary if routed else draw(st.none() | st.just(canary)),
        stable_service=stable if routed else draw(st.none() | st.just(stable)),
        traffic_routing=routing,
        max_surge=surge,
        max_unavailable=unavailable,
        analysis=draw(st.none() | analyses(starting_step=st.integers(0, len(step_list)))),
        dynamic_stable_scale=routed and draw(st.booleans()),
        scale_down_delay_seconds=draw(st.integers(0, 3600)) if routed else 30,
        abort_scale_down_delay_seconds=draw(st.integers(0, 3600)),
        # at most revisionHistoryLimit, drawn from 0
        scale_down_delay_revision_limit=draw(st.none() | st.just(0)),
        min_pods_per_replica_set=draw(st.none() | st.integers(1, 10)) if routed else None,
        canary_metadata=draw(st.fixed_dictionaries({}, optional={"labels": string_maps})),
        stable_metadata=draw(st.fixed_dictionaries({}, optional={"annotations": string_maps})),
        ping_pong=ping_pong,
        anti_affinity=draw(anti_affinities),
    )


anti_affinities = st.none() | st.builds(AntiAffinity, st.none() | st.integers(1, 100))


@st.composite
def blue_greens(draw: st.DrawFn) -> BlueGreenStrategy:
    active, preview = draw(st.lists(names, min_size=2, max_size=2, unique=True))
    return BlueGreenStrategy(
        active_service=active,
        preview_service=draw(st.none() | st.just(preview)),
        auto_promotion_enabled=draw(st.booleans()),
        auto_promotion_seconds=draw(st.none() | st.integers(0, 3600)),
        preview_replica_count=draw(st.none() | st.integers(0, 10)),
        pre_promotion_analysis=draw(st.none() | analyses()),
        post_promotion_analysis=draw(st.none() | analyses()),
        scale_down_delay_seconds=draw(st.integers(0, 3600)),
        abort_scale_down_delay_seconds=draw(st.integers(0, 3600)),
        scale_down_delay_revision_limit=draw(st.none() | st.just(0)),
        max_unavailable=draw(count_or_percent),
        active_metadata=draw(st.fixed_dictionaries({}, optional={"labels": string_maps})),
        preview_metadata=draw(st.fixed_dictionaries({}, optional={"labels": string_maps})),
        anti_affinity=draw(anti_affinities),
    )


# -- the Rollout --------------------------------------------------------------------------------

times = st.integers(0, 4 * 10**9).map(float)
statuses = st.one_of(
    st.just(RolloutStatus()),
    st.builds(
        RolloutStatus,
        phase=st.sampled_from(["Healthy", "Progressing", "Paused", "Degraded"]),
        message=text,
        observed_generation=st.integers(0, 100),
        current_pod_hash=st.none() | names,
        current_step_index=st.none() | st.integers(0, 10),
        stable_rs=st.none() | names,
        abort=st.booleans(),
        aborted_at=st.none() | times,
        pause_conditions=st.lists(st.builds(PauseCondition, names, times), max_size=2).map(tuple),
        replicas=st.integers(0, 10),
        conditions=st.lists(
            st.builds(Condition, names, st.sampled_from(["True", "False"]), names, text),
            max_size=2,
        ).map(tuple),
        canary_weight=st.integers(0, 100),
    ),
)


@st.composite
def rollouts(draw: st.DrawFn) -> Rollout:
    app = draw(names)
    labels = {"app": app, **draw(string_maps)}
    kinds = st.sampled_from(["never", "onsuccess", "progressively"])
    deployments = st.builds(WorkloadRef, st.just("apps/v1"), st.just("Deployment"), names, kinds)
    workload = draw(st.none() | deployments)
    template: dict[str, Any] = {}
    if workload is None:
        template = {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [{"name": app, "image": draw(names)}],
                **draw(st.dictionaries(names, plain, max_size=2)),
            },
        }
    min_ready = draw(st.integers(0, 100))
    return Rollout(
        name=draw(names),
        namespace=draw(names),
        api_version=draw(st.sampled_from(API_GROUPS)),
        uid=draw(st.just("") | names),
        generation=draw(st.integers(1, 50)),
        labels=draw(string_maps),
        annotations=draw(string_maps),
        replicas=draw(st.integers(0, 1000)),
        selector={"matchLabels": {"app": app}} if workload is None or draw(st.booleans()) else {},
        template=template,
        workload_ref=workload,
        min_ready_seconds=min_ready,
        revision_history_limit=draw(st.integers(0, 20)),
        progress_deadline_seconds=draw(st.integers(min_ready + 1, 3600)),
        progress_deadline_abort=draw(st.booleans()),
        restart_at=draw(st.none() | text),
        rollback_window=draw(st.none() | st.integers(0, 10)),
        paused=draw(st.booleans()),
        strategy=draw(canaries() | blue_greens()),
        status=draw(statuses),
    )


# -- analysis templates ----------------------------------------------------------------------------

conditions = st.sampled_from(
    [None, "result > 0.5", "result[0] >= 0.95", "len(result) == 0 || result[0] < {{args.max}}"]
)


@st.composite
def metrics(draw: st.DrawFn, name: str) -> Metric:
    failure = draw(st.integers(-1, 3))
    success = draw(st.integers(1 if failure == -1 else 0, 3))
    inconclusive = draw(st.integers(0, 3))
    count = draw(st.none() | st.integers(max(failure + success, success, inconclusive, 0), 10))
    interval = draw(st.none() | seconds.filter(bool)) if not count or count <= 1 else 60.0
    return Metric(
        name=name,
        provider={draw(names): draw(st.dictionaries(names, plain, min_size=1, max_size=3))},
        interval=interval,
        initial_delay=draw(st.none() | seconds),
        count=count,
        success_condition=draw(conditions),
        failure_condition=draw(conditions),
        failure_limit=failure,
        inconclusive_limit=inconclusive,
        consecutive_error_limit=draw(st.integers(0, 5)),
        consecutive_success_limit=success,
        empty_result=draw(st.sampled_from(RESULT_POLICIES)),
        nan_result=draw(st.sampled_from(RESULT_POLICIES)),
    )


@st.composite
def analysis_templates(draw: st.DrawFn) -> AnalysisTemplate:
    metric_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    cluster = draw(st.booleans())
    return AnalysisTemplate(
        name=draw(names),
        namespace=None if cluster else draw(names),
        cluster_scope=cluster,
        metrics=[draw(metrics(n)) for n in metric_names],
        args=draw(st.lists(args, max_size=3, unique_by=lambda a: a.name)),
        dry_run=draw(st.lists(names, max_size=2, unique=True)),
        measurement_retention=draw(
            st.lists(
                st.builds(MeasurementRetention, names, st.integers(0, 20)),
                max_size=2,
                unique_by=lambda r: r.metric_name,
            )
        ),
        templates=draw(st.lists(st.builds(TemplateRef, names, st.booleans()), max_size=2)),
    )
