"""SLO burn-rate gates: windows, queries, conditions and the ready-made templates."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from progressive.core._analysis import AnalysisPhase, AnalysisTemplate, evaluate_measurement
from progressive.core._slo import (
    GOOGLE_SRE_WINDOWS,
    SLO,
    BurnRateWindow,
    Selector,
    burn_rate_metrics,
    burn_rate_query,
    burn_rate_template,
    error_budget_query,
    format_prometheus_duration,
    parse_prometheus_duration,
    pyrra_recording_rules,
    pyrra_windows,
)

P = AnalysisPhase
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "analysis"
CHECKOUT = SLO(
    "checkout",
    0.999,
    total='http_requests_total{job="checkout"}',
    errors='http_requests_total{job="checkout",code=~"5.."}',
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h4m", 3840), ("28d", 28 * 86400), ("4w", 28 * 86400), ("1y", 365 * 86400)],
)
def test_prometheus_durations(text: str, seconds: int) -> None:
    assert parse_prometheus_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (3840, "1h4m"), (86400, "1d"), (28 * 86400, "4w"), (30 * 86400, "30d")],
)
def test_prometheus_durations_are_written_as_prometheus_does(seconds: int, text: str) -> None:
    assert format_prometheus_duration(seconds) == text


@pytest.mark.parametrize("bad", ["", "5", "5x", "1m5h", "0s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_prometheus_duration(bad)


def test_pyrra_windows_for_28_days_are_pyrra_s_table() -> None:
    assert pyrra_windows("28d") == (
        BurnRateWindow("5m", "1h", 14, "critical"),
        BurnRateWindow("30m", "6h", 7, "critical"),
        BurnRateWindow("2h", "1d", 2, "warning"),
        BurnRateWindow("6h", "4d", 1, "warning"),
    )


def test_pyrra_windows_scale_with_the_slo_window() -> None:
    rows = pyrra_windows("30d")
    assert [(w.short, w.long) for w in rows] == [
        ("5m", "1h4m"),
        ("32m", "6h26m"),
        ("2h9m", "1d1h43m"),
        ("6h26m", "4d6h51m"),
    ]


def test_the_google_sre_table() -> None:
    # 2% of a 30-day budget in 1h is a burn rate of 0.02 * 720 = 14.4; 5% in 6h: 6;
    # 10% in 1d: 3; 10% in 3d: 1
    assert [(w.short, w.long, w.factor) for w in GOOGLE_SRE_WINDOWS] == [
        ("5m", "1h", 14.4),
        ("30m", "6h", 6),
        ("2h", "1d", 3),
        ("6h", "3d", 1),
    ]
    assert 0.02 * 30 * 24 == pytest.approx(14.4)


def test_selectors() -> None:
    s = Selector.parse('http_requests_total{job="a", code=~"5..",path!="/x\\"y"}')
    assert s.name == "http_requests_total"
    assert [(m.label, m.op, m.value) for m in s.matchers] == [
        ("job", "=", "a"),
        ("code", "=~", "5.."),
        ("path", "!=", '/x"y'),
    ]
    assert s.equalities == {"job": "a"}
    assert str(Selector.parse("up")) == "up"
    assert str(Selector.parse(str(s))) == str(s)
    with pytest.raises(ValueError):
        Selector.parse('{job="a"}')
    with pytest.raises(ValueError):
        Selector.parse("rate(x[5m])")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": 'a"b', "objective": 0.99}, "without quotes"),
        ({"name": "a", "objective": 1.0}, "between 0 and 1"),
        ({"name": "a", "objective": 99}, "between 0 and 1"),
        ({"name": "a", "objective": 0.99, "total": "sum(x)"}, "series selector"),
        ({"name": "a", "objective": 0.99, "window": "a month"}, "Prometheus duration"),
    ],
)
def test_slo_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SLO(**kwargs)  # type: ignore[arg-type]


def test_recording_rule_names() -> None:
    assert CHECKOUT.rule_prefix == "http_requests"
    assert SLO("l", 0.9, total="grpc_server_handled_count").rule_prefix == "grpc_server_handled"


def test_queries_from_pyrra_rules() -> None:
    query = burn_rate_query(CHECKOUT, pyrra_windows()[0])
    assert 'max(http_requests:burnrate5m{slo="checkout"})' in query
    assert 'max(http_requests:burnrate1h{slo="checkout"})' in query
    assert '"window", "5m", "", ""' in query and '"window", "1h", "", ""' in query
    assert query.endswith(") / (1 - 0.999)")


def test_queries_from_counters_count_only_the_track() -> None:
    query = burn_rate_query(CHECKOUT, GOOGLE_SRE_WINDOWS[0], source="counters")
    errors = 'sum(rate(http_requests_total{job="checkout",code=~"5..",track="canary"}[5m]))'
    total = 'sum(rate(http_requests_total{job="checkout",track="canary"}[5m]))'
    assert errors in query and total in query
    everything = burn_rate_query(CHECKOUT, GOOGLE_SRE_WINDOWS[0], source="counters", track=None)
    assert "track" not in everything
    with pytest.raises(ValueError, match="label name"):
        burn_rate_query(CHECKOUT, GOOGLE_SRE_WINDOWS[0], source="counters", track_label="a-b")


def test_the_remaining_budget_query() -> None:
    assert error_budget_query(CHECKOUT) == (
        '(max(pyrra_availability{slo="checkout"}) - max(pyrra_objective{slo="checkout"}))'
        ' / (1 - max(pyrra_objective{slo="checkout"}))'
    )


@pytest.mark.parametrize(
    ("value", "phase"),
    [
        ([20.0, 16.0], P.FAILED),  # both windows over 14: the budget burns too fast
        ([20.0, 3.0], P.SUCCESSFUL),  # a spike the long window does not confirm
        ([0.5, 0.4], P.SUCCESSFUL),
        ([14.0, 14.0], P.SUCCESSFUL),  # Pyrra alerts on >, not >=
        ([3.0], P.INCONCLUSIVE),  # one window has no data
        ([], P.ERROR),  # no data at all (emptyResult)
        ([math.nan, 1.0], P.ERROR),  # 0/0: no traffic (nanResult)
    ],
)
def test_the_gate_conditions(value: list[float], phase: AnalysisPhase) -> None:
    template = AnalysisTemplate.from_manifest(burn_rate_template(CHECKOUT))
    first = template.metrics[0]
    assert first.name == "checkout-burn-rate-5m-1h"
    assert evaluate_measurement(first, value)[0] is phase


def test_templates_read_back_and_name_their_args() -> None:
    manifest = burn_rate_template(
        CHECKOUT,
        source="counters",
        track_label="rollouts_pod_template_hash",
        track="{{args.canary-hash}}",
        interval="30s",
        count=10,
        policies={"nanResult": "inconclusive"},
    )
    assert manifest["spec"]["args"] == [{"name": "canary-hash"}]
    template = AnalysisTemplate.from_manifest(manifest)
    assert [m.name for m in template.metrics] == [
        "checkout-burn-rate-5m-1h",
        "checkout-burn-rate-30m-6h",
    ]
    assert all(
        (m.interval, m.count, m.nan_result) == (30, 10, "inconclusive") for m in template.metrics
    )


def test_severities_and_windows_choose_the_rows() -> None:
    every = burn_rate_metrics(CHECKOUT, severities=None)
    assert len(every) == 4
    own = burn_rate_metrics(CHECKOUT, windows=[BurnRateWindow("1m", "10m", 20)])
    assert [m["name"] for m in own] == ["checkout-burn-rate-1m-10m"]
    assert own[0]["failureCondition"] == "min(result) > 20"
    with pytest.raises(ValueError, match="no burn-rate window"):
        burn_rate_metrics(CHECKOUT, severities=["page"])
    with pytest.raises(ValueError, match="shorter"):
        BurnRateWindow("1h", "5m", 14)


def test_pyrra_recording_rules() -> None:
    group = pyrra_recording_rules(CHECKOUT)
    assert [r["record"] for r in group["rules"]] == [
        f"http_requests:burnrate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "4d")
    ]
    first = group["rules"][0]
    assert first["labels"] == {"job": "checkout", "slo": "checkout"}
    assert first["expr"] == (
        'sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m]))'
        ' / sum(rate(http_requests_total{job="checkout"}[5m]))'
    )


def test_an_slo_from_a_pyrra_manifest() -> None:
    manifest = {
        "apiVersion": "pyrra.dev/v1alpha1",
        "kind": "ServiceLevelObjective",
        "metadata": {"name": "checkout", "namespace": "monitoring"},
        "spec": {
            "target": "99.9",
            "window": "28d",
            "indicator": {
                "ratio": {
                    "errors": {"metric": 'http_requests_total{job="checkout",code=~"5.."}'},
                    "total": {"metric": 'http_requests_total{job="checkout"}'},
                }
            },
        },
    }
    assert SLO.from_pyrra(manifest) == CHECKOUT
    with pytest.raises(ValueError, match="ratio"):
        SLO.from_pyrra({"spec": {"target": "99"}})


def test_the_ready_made_templates_are_what_the_functions_build() -> None:
    documents = list(yaml.safe_load_all((EXAMPLES / "slo-burn-rate.yaml").read_text()))
    address = "http://prometheus.monitoring:9090"
    canary = SLO("checkout-canary", 0.999, total=CHECKOUT.total, errors=CHECKOUT.errors)
    assert documents == [
        burn_rate_template(CHECKOUT, address=address),
        burn_rate_template(
            canary,
            source="counters",
            address=address,
            track_label="rollouts_pod_template_hash",
            track="{{args.canary-hash}}",
        ),
    ]
    for document in documents:
        AnalysisTemplate.from_manifest(document)
    # the example rollout carries the second one verbatim
    rollout_docs = list(yaml.safe_load_all((EXAMPLES / "rollout.yaml").read_text()))
    assert documents[1] in rollout_docs
