"""The ``judge`` provider against a real Prometheus: the demo app serves a baseline and
two canaries (one as fast as the baseline, one four times slower), each labelled with its
own pod-template hash as an experiment's pods would be; the judge compares their mean
latencies sampled by a range query, through the real prometheus provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from progressive.core._analysis import AnalysisPhase, MeasurementOutcome, build_analysis_run
from progressive.core._analysis_model import AnalysisTemplate
from progressive.core._steps import AnalysisArg
from progressive.metrics import MeasurementFailure, default_registry

from .conftest import Stack

pytestmark = pytest.mark.prometheus

SERVICE = "judge"
STREAMS = {"baseline": 0.05, "same": 0.05, "slow": 0.2}  # pod hash -> mean latency
MEAN_LATENCY = (
    'sum(rate(http_request_duration_seconds_sum{{service="{s}",'
    'rollouts_pod_template_hash="{{{{args.{arg}}}}}"}}[5s]))'
    ' / sum(rate(http_request_duration_seconds_count{{service="{s}",'
    'rollouts_pod_template_hash="{{{{args.{arg}}}}}"}}[5s]))'
)


def judge_template(address: str, **settings: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "latency-judge", "namespace": "default"},
        "spec": {
            "args": [{"name": "baseline-hash"}, {"name": "canary-hash"}],
            "metrics": [
                {
                    "name": "latency",
                    "successCondition": "result >= 75",
                    "provider": {
                        "judge": {
                            "prometheus": {
                                "address": address,
                                "rangeQuery": {
                                    "start": 'now() - duration("15s")',
                                    "end": "now()",
                                    "step": "1s",
                                },
                            },
                            "baseline": MEAN_LATENCY.format(s=SERVICE, arg="baseline-hash"),
                            "canary": MEAN_LATENCY.format(s=SERVICE, arg="canary-hash"),
                            "direction": "increase",
                            "allowedIncrease": 1.1,
                            "confidence": 0.98,
                            **settings,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def streams(stack: Stack) -> Iterator[Stack]:
    """The three streams, with 20 s of samples each."""
    for pod_hash, latency in STREAMS.items():
        stack.app.set_stream(SERVICE, pod_hash, latency=latency, pod_hash=pod_hash)
    for pod_hash in STREAMS:
        stack.prometheus.wait_for(
            f'count_over_time(http_request_duration_seconds_count{{service="{SERVICE}",'
            f'rollouts_pod_template_hash="{pod_hash}"}}[30s])',
            lambda values: bool(values) and values[0] >= 20,
            timeout=45.0,
        )
    yield stack
    for pod_hash in STREAMS:
        stack.app.remove_stream(SERVICE, pod_hash)


async def measure(stack: Stack, canary_hash: str, **settings: Any) -> object:
    template = AnalysisTemplate.from_manifest(judge_template(stack.address, **settings))
    args = [AnalysisArg("baseline-hash", "baseline"), AnalysisArg("canary-hash", canary_hash)]
    run = build_analysis_run("r", "default", [template], args, None, 0.0)
    (metric,) = run.metrics
    return await default_registry().measure(metric, run)


async def test_a_canary_slower_than_the_baseline_fails(streams: Stack) -> None:
    outcome = await measure(streams, "slow")
    assert isinstance(outcome, MeasurementOutcome), outcome
    assert outcome.phase is AnalysisPhase.FAILED
    assert outcome.value == 0
    assert outcome.message.startswith("Fail: score 0 (latency: High canary higher")


async def test_a_canary_as_fast_as_the_baseline_passes(streams: Stack) -> None:
    outcome = await measure(streams, "same")
    assert isinstance(outcome, MeasurementOutcome), outcome
    assert outcome.phase is AnalysisPhase.SUCCESSFUL
    assert outcome.value == 100
    assert outcome.message.startswith("Pass: score 100 (latency: Pass ")


async def test_the_harmless_direction_passes(streams: Stack) -> None:
    # the baseline judged as the canary: faster, which direction increase allows
    template = AnalysisTemplate.from_manifest(judge_template(streams.address))
    args = [AnalysisArg("baseline-hash", "slow"), AnalysisArg("canary-hash", "baseline")]
    run = build_analysis_run("r", "default", [template], args, None, 0.0)
    outcome = await default_registry().measure(run.metrics[0], run)
    assert isinstance(outcome, MeasurementOutcome), outcome
    assert outcome.phase is AnalysisPhase.SUCCESSFUL and outcome.value == 100
    assert "harmless direction" in outcome.message


async def test_a_canary_without_data_fails(streams: Stack) -> None:
    outcome = await measure(streams, "no-such-hash")
    assert isinstance(outcome, MeasurementOutcome), outcome
    assert outcome.phase is AnalysisPhase.FAILED
    assert "NoData" in outcome.message


async def test_a_bad_query_is_an_error_with_prometheus_message(streams: Stack) -> None:
    outcome = await measure(streams, "same", canary="sum(rate(x[5m]")
    assert isinstance(outcome, MeasurementFailure)
    assert outcome.message.startswith("judge latency canary: prometheus bad_data")


async def test_a_bad_config_is_an_error(streams: Stack) -> None:
    outcome = await measure(streams, "same", direction="sideways")
    assert isinstance(outcome, MeasurementFailure)
    assert "sideways" in outcome.message
