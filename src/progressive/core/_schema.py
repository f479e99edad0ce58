"""The fields of every progressive.dev spec, declared once.

:data:`ROLLOUT_SPEC`, :data:`ANALYSIS_TEMPLATE_SPEC`, :data:`ANALYSIS_RUN_SPEC` and
:data:`EXPERIMENT_SPEC` describe each field's type, range, enum and whether it is
required, in the words of the readers (``read_rollout``, ``read_step``,
``read_analysis_template``, ``Experiment.from_manifest``): an integer the reader checks
with ``low=0, high=100`` is ``integer(0, 100)`` here.  Two things are built from them:

* the CRDs' structural OpenAPI schemas (:func:`openapi`, used by ``progressive._deploy._crds``);
* the tests that hold the declarations and the readers together: every field declared
  is accepted by its reader, every field a reader reads is declared, and every range
  and enum is the reader's (``tests/core/test_schema.py``).

Free-form data stays free-form (``x-kubernetes-preserve-unknown-fields``): pod
templates, router configurations, metric providers.  Argo's IntOrString fields are
``x-kubernetes-int-or-string``.  Rules across fields that a schema expresses simply
("exactly one of canary or blueGreen", "exactly one action per step") become ``oneOf``
or CEL validation rules; the others are the reader's (an ``InvalidSpec`` condition).

What the controller writes in ``status`` is declared apart, with these builders
(:mod:`progressive.core._status_schema`).

Pure data: nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

from ._analysis_model import RESULT_POLICIES
from ._durations import MAX_SECONDS
from ._fields import MAX_INT
from ._router_keys import ARGO_ROUTER_KEYS
from ._steps import EXCLUSIVE_ACTIONS, VERDICT_CHOICES

__all__ = [
    "ANALYSIS_RUN_SPEC",
    "ANALYSIS_TEMPLATE_SPEC",
    "EXPERIMENT_SPEC",
    "INT32_MAX",
    "ROLLOUT_SPEC",
    "Node",
    "openapi",
]

INT32_MAX: Final = 2**31 - 1
# The API server bounds the cost of CEL rules by the size of the lists they are in.
MAX_STEPS: Final = 1000

# A Go-style duration, or a number of seconds written as a string.
DURATION_PATTERN: Final = r"^([0-9]+|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
# maxSurge-style percentages, as Fields.int_or_percent reads them: up to four digits.
PERCENT_PATTERN: Final = r"^[0-9]{1,4}%$"
# An integer written as a string, as the analysis readers accept it ("3", " -1 ").
_INT_TEXT: Final = r"^\s*[+-]?[0-9]{1,10}\s*$"


@attrs.frozen
class Node:
    """One schema node: an object, array, scalar, int-or-string or free-form value."""

    type: str = ""  # object | array | string | integer | boolean | "" (int-or-string)
    description: str = ""
    properties: Mapping[str, Node] = attrs.field(factory=dict, hash=False)
    required: tuple[str, ...] = ()
    exactly_one: tuple[str, ...] = ()  # exactly one of these properties is set
    at_most_one: tuple[str, ...] = ()  # at most one of these properties is set
    items: Node | None = None
    values: Node | None = None  # a map's values (additionalProperties)
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int | None = None
    format: str | None = None
    int_or_string: bool = False
    free: bool = False  # x-kubernetes-preserve-unknown-fields
    min_items: int | None = None
    max_items: int | None = None  # bounds the cost of the items' CEL rules
    min_properties: int | None = None
    max_properties: int | None = None
    percent: bool = False  # an int-or-string that is a count or "N%" (N <= 100)
    duration: bool = False  # an int-or-string that is a duration
    example: Any = None  # a valid value, for documentation and generated examples

    def at(self, path: str) -> Node | None:
        """The node at a reader's field path (``strategy.canary.steps[0].setWeight``);
        a free-form node answers for everything under it; None: not declared."""
        node: Node | None = self
        for token in _tokens(path):
            if node is None:
                return None
            if node.free:
                return node
            if token == "[]":
                node = node.items
            elif node.values is not None:
                node = node.values
            else:
                node = node.properties.get(token)
        return node

    def walk(self, path: str = "") -> Iterator[tuple[str, Node]]:
        """Every node with its path (array items as ``[]``)."""
        yield path, self
        for key, child in self.properties.items():
            yield from child.walk(f"{path}.{key}" if path else key)
        if self.items is not None:
            yield from self.items.walk(f"{path}[]")


def _tokens(path: str) -> list[str]:
    out: list[str] = []
    for part in path.split("."):
        if not part:
            continue
        name, *indices = re.split(r"\[[^\]]*\]", part)
        if name:
            out.append(name)
        out.extend("[]" for _ in indices)
    return out


# -- constructors ------------------------------------------------------------------------


def obj(
    description: str = "",
    properties: Mapping[str, Node] | None = None,
    *,
    required: tuple[str, ...] = (),
    exactly_one: tuple[str, ...] = (),
    at_most_one: tuple[str, ...] = (),
) -> Node:
    return Node(
        "object",
        description,
        dict(properties or {}),
        required=required,
        exactly_one=exactly_one,
        at_most_one=at_most_one,
    )


def string(
    description: str = "",
    *,
    enum: tuple[str, ...] = (),
    pattern: str | None = None,
    format: str | None = None,
    example: str | None = None,
) -> Node:
    return Node("string", description, enum=enum, pattern=pattern, format=format, example=example)


def integer(description: str = "", low: int | None = 0, high: int | None = MAX_INT) -> Node:
    """An integer in [low, high]: ``Fields.int``'s defaults."""
    return Node("integer", description, minimum=low, maximum=high)


def boolean(description: str = "") -> Node:
    return Node("boolean", description)


def array(
    items: Node,
    description: str = "",
    *,
    min_items: int | None = None,
    max_items: int | None = None,
) -> Node:
    return Node("array", description, items=items, min_items=min_items, max_items=max_items)


def string_map(description: str = "") -> Node:
    return Node("object", description, values=Node("string"))


def free(description: str = "", example: Mapping[str, Any] | None = None) -> Node:
    """Free-form data kept as is (pod templates, router configurations)."""
    return Node("object", description, free=True, example=example)


def int_or_string(
    description: str = "", low: int | None = None, high: int | None = None, pattern: str = _INT_TEXT
) -> Node:
    """An IntOrString holding a number (an analysis limit): ``3`` or ``"3"``."""
    return Node("", description, int_or_string=True, minimum=low, maximum=high, pattern=pattern)


def duration(description: str = "", low: int = 0) -> Node:
    """``30``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1m30s"`` (at most 52 weeks)."""
    return Node(
        "",
        description,
        int_or_string=True,
        minimum=low,
        maximum=int(MAX_SECONDS),
        pattern=DURATION_PATTERN,
        duration=True,
    )


def count_or_percent(description: str = "") -> Node:
    """``maxSurge``-style: a count or a percentage such as ``"25%"`` (at most 100%)."""
    return Node(
        "",
        description,
        int_or_string=True,
        minimum=0,
        maximum=MAX_INT,
        pattern=PERCENT_PATTERN,
        percent=True,
    )


# -- shared pieces ---------------------------------------------------------------------------

LABEL_SELECTOR: Final = obj(
    "A label query over pods (matchLabels and matchExpressions).",
    {
        "matchLabels": string_map(),
        "matchExpressions": array(
            obj(
                "",
                {
                    "key": string(),
                    "operator": string(enum=("In", "NotIn", "Exists", "DoesNotExist")),
                    "values": array(string()),
                },
                required=("key", "operator"),
            )
        ),
    },
)
POD_METADATA: Final = obj(
    "Labels and annotations added to the pods.",
    {"labels": string_map(), "annotations": string_map()},
)
TEMPLATE_REF: Final = obj(
    "An AnalysisTemplate (or, with clusterScope, a ClusterAnalysisTemplate).",
    {"templateName": string(), "clusterScope": boolean()},
    required=("templateName",),
)
VALUE_FROM: Final = obj(
    "Where an argument's value comes from.",
    {
        "podTemplateHashValue": string(enum=("Stable", "Latest")),
        "fieldRef": obj("", {"fieldPath": string()}, required=("fieldPath",)),
        "secretKeyRef": obj("", {"name": string(), "key": string()}, required=("name", "key")),
    },
)
STRING_MATCH: Final = obj(
    "",
    {"exact": string(), "regex": string(), "prefix": string()},
    exactly_one=("exact", "regex", "prefix"),
)


def argument() -> Node:
    """An analysis argument: a literal value or where to take it from."""
    return obj(
        "", {"name": string(), "value": string(), "valueFrom": VALUE_FROM}, required=("name",)
    )


def experiment_analysis() -> Node:
    """An analysis of an Experiment (also inside a Rollout's experiment step)."""
    return obj(
        "",
        {
            "name": string(),
            "templateName": string(),
            "clusterScope": boolean(),
            "args": array(argument()),
            "requiredForCompletion": boolean(),
        },
        required=("name", "templateName"),
    )


def _rollout_analysis(*, background: bool = False) -> Node:
    props: dict[str, Node] = {
        "templates": array(TEMPLATE_REF),
        "args": array(argument()),
        "dryRun": array(obj("", {"metricName": string()}, required=("metricName",))),
        "measurementRetention": array(
            obj("", {"metricName": string(), "limit": integer()}, required=("metricName",))
        ),
        "analysisRunMetadata": POD_METADATA,
    }
    for key, verdict in (
        ("onFailed", "failed"),
        ("onError", "error"),
        ("onInconclusive", "inconclusive"),
    ):
        props[key] = string(
            f"What a {verdict} run does to the rollout (progressive.dev).",
            enum=VERDICT_CHOICES[verdict],
        )
    if background:
        props["startingStep"] = integer("The step index the background analysis starts at.")
    return obj(
        "Background analysis: runs from startingStep until the rollout completes."
        if background
        else "Analysis templates to run, with their arguments.",
        props,
    )


ANTI_AFFINITY: Final = obj(
    "Keep the canary's pods away from the stable's nodes.",
    {
        "preferredDuringSchedulingIgnoredDuringExecution": obj(
            "", {"weight": integer(low=1, high=100)}, required=("weight",)
        ),
        "requiredDuringSchedulingIgnoredDuringExecution": obj(""),
    },
)

# -- Rollout ----------------------------------------------------------------------------------

STEP: Final = attrs.evolve(
    obj(
        "One canary step: one action, or several of which at most one of setWeight, pause, "
        "experiment and analysis (as in Argo).",
        {
            "setWeight": integer("Percent of traffic to send to the canary.", 0, 100),
            "pause": obj(
                "Wait for duration, or (without one) until promoted.", {"duration": duration()}
            ),
            "setCanaryScale": obj(
                "Scale the canary independently of its traffic weight.",
                {
                    "weight": integer(low=0, high=100),
                    "replicas": integer(),
                    "matchTrafficWeight": boolean(),
                },
            ),
            "setHeaderRoute": obj(
                "Route requests whose headers match to the canary (no match: remove the route).",
                {
                    "name": string(),
                    "match": array(
                        obj(
                            "",
                            {"headerName": string(), "headerValue": STRING_MATCH},
                            required=("headerName", "headerValue"),
                        )
                    ),
                },
                required=("name",),
            ),
            "setMirrorRoute": obj(
                "Mirror a percentage of matching requests to the canary (no match: remove it).",
                {
                    "name": string(),
                    "match": array(
                        obj(
                            "",
                            {
                                "method": STRING_MATCH,
                                "path": STRING_MATCH,
                                "headers": Node("object", values=STRING_MATCH),
                            },
                        )
                    ),
                    "percentage": integer(low=0, high=100),
                },
                required=("name",),
            ),
            "analysis": _rollout_analysis(),
            "experiment": obj(
                "Run ReplicaSets side by side, judged by analyses.",
                {
                    "templates": array(
                        obj(
                            "",
                            {
                                "name": string(),
                                "specRef": string(enum=("stable", "canary")),
                                "replicas": integer(),
                                "weight": integer(low=0, high=100),
                                "metadata": POD_METADATA,
                                "selector": LABEL_SELECTOR,
                                "service": obj("", {"name": string()}),
                            },
                            required=("name", "specRef"),
                        )
                    ),
                    "duration": duration(),
                    "analyses": array(experiment_analysis()),
                },
            ),
            "plugin": obj(
                "A step plugin's step: an installed plugin (progressive.steps entry "
                "points) answering to name does it; config is the plugin's.",
                {
                    "name": string(
                        "The plugin, <namespace>/<name>.", example="openfeature/flagd"
                    ),
                    "config": free(
                        "The plugin's configuration.",
                        example={"configMap": "flags", "flag": "new-checkout"},
                    ),
                },
                required=("name",),
            ),
        },
        at_most_one=EXCLUSIVE_ACTIONS,
    ),
    min_properties=1,  # at least one action
)


TRAFFIC_ROUTING: Final = attrs.evolve(
    obj(
        "The routers that carry the canary's traffic, by key or under plugins by Argo "
        "plugin name; their configurations are free-form, and a key of a router "
        "installed as a plugin (progressive.routers entry points) is kept too.",
        {
            **{key: free(f"The {key} router.") for key in ARGO_ROUTER_KEYS},
            "plugins": free(
                "Traffic routers by Argo plugin name (argoproj-labs/gatewayAPI, ...).",
                example={"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": "web"}},
            ),
            "managedRoutes": array(obj("", {"name": string()}, required=("name",))),
            "maxTrafficWeight": integer("The total weight (default 100).", 1, MAX_INT),
        },
    ),
    free=True,
)

CANARY: Final = obj(
    "A canary: move traffic and replicas step by step.",
    {
        "steps": array(STEP, max_items=MAX_STEPS),
        "canaryService": string("The Service that selects the canary's pods."),
        "stableService": string("The Service that selects the stable pods."),
        "trafficRouting": TRAFFIC_ROUTING,
        "maxSurge": count_or_percent(),
        "maxUnavailable": count_or_percent(),
        "analysis": _rollout_analysis(background=True),
        "dynamicStableScale": boolean(),
        "scaleDownDelaySeconds": integer(),
        "abortScaleDownDelaySeconds": integer(),
        "minPodsPerReplicaSet": integer(low=1),
        "canaryMetadata": POD_METADATA,
        "stableMetadata": POD_METADATA,
        "scaleDownDelayRevisionLimit": integer(),
        "antiAffinity": ANTI_AFFINITY,
        "replicaProgressThreshold": obj(
            "",
            {"type": string(enum=("Percent", "Pods")), "value": integer()},
            required=("type", "value"),
        ),
        "pingPong": obj(
            "",
            {"pingService": string(), "pongService": string()},
            required=("pingService", "pongService"),
        ),
    },
)

BLUE_GREEN: Final = obj(
    "Blue-green: bring the new version up behind a preview Service, then switch.",
    {
        "activeService": string("The Service that receives production traffic."),
        "previewService": string("The Service that selects the new version before promotion."),
        "autoPromotionEnabled": boolean(),
        "autoPromotionSeconds": integer(),
        "previewReplicaCount": integer(),
        "prePromotionAnalysis": _rollout_analysis(),
        "postPromotionAnalysis": _rollout_analysis(),
        "scaleDownDelaySeconds": integer(),
        "abortScaleDownDelaySeconds": integer(),
        "activeMetadata": POD_METADATA,
        "previewMetadata": POD_METADATA,
        "maxUnavailable": count_or_percent(),
        "scaleDownDelayRevisionLimit": integer(),
        "antiAffinity": ANTI_AFFINITY,
    },
    required=("activeService",),
)

ROLLOUT_SPEC: Final = obj(
    "A Rollout: a workload updated progressively (canary or blue-green).",
    {
        "replicas": integer("Desired pods (default 1).", 0),
        "selector": LABEL_SELECTOR,
        "template": free("The pod template (as in a Deployment)."),
        "workloadRef": obj(
            "An existing Deployment whose pod template to use (instead of template).",
            {
                "apiVersion": string(),
                "kind": string(),
                "name": string(),
                "scaleDown": string(enum=("never", "onsuccess", "progressively")),
            },
            required=("kind", "name"),
        ),
        "minReadySeconds": integer(),
        "revisionHistoryLimit": integer("Old ReplicaSets to keep (default 10)."),
        "progressDeadlineSeconds": integer("Seconds to make progress (default 600).", 1),
        "progressDeadlineAbort": boolean(),
        "restartAt": string("Restart pods created before this time.", format="date-time"),
        "rollbackWindow": obj("", {"revisions": integer()}),
        "paused": boolean(),
        "strategy": obj(
            "", {"canary": CANARY, "blueGreen": BLUE_GREEN}, exactly_one=("canary", "blueGreen")
        ),
        "analysis": obj(
            "How many finished AnalysisRuns to keep.",
            {
                "successfulRunHistoryLimit": integer(low=0, high=INT32_MAX),
                "unsuccessfulRunHistoryLimit": integer(low=0, high=INT32_MAX),
            },
        ),
    },
    required=("strategy",),
    exactly_one=("template", "workloadRef"),
)

# -- analysis -----------------------------------------------------------------------------------


#: A value written with an ``{{args.x}}`` placeholder, read when a run is built.
ARG_PATTERN: Final = r"\{\{\s*args\."


def _or_arg(node: Node) -> Node:
    """``node``, or a string with an ``{{args.x}}`` placeholder (a metric's numbers)."""
    return attrs.evolve(node, pattern=f"{node.pattern}|{ARG_PATTERN}")


def _metric_limit(description: str, low: int) -> Node:
    return _or_arg(int_or_string(description, low, INT32_MAX))


METRIC: Final = obj(
    "One measurement, repeated: a provider and the conditions that judge it.",
    {
        "name": string(),
        "interval": _or_arg(duration("Time between measurements (more than 0).", low=1)),
        "initialDelay": _or_arg(duration("Wait before the first measurement.")),
        "count": _metric_limit("Measurements to take (0: until terminated).", 0),
        "successCondition": string(
            "An expression over result that passes the measurement.", example="result > 0.99"
        ),
        "failureCondition": string(
            "An expression over result that fails the measurement.", example="result < 0.9"
        ),
        "failureLimit": _metric_limit("Failed measurements tolerated (-1: no limit).", -1),
        "inconclusiveLimit": _metric_limit("", 0),
        "consecutiveErrorLimit": _metric_limit("", 0),
        "consecutiveSuccessLimit": _metric_limit("", 0),
        "emptyResult": string(
            "What an empty result makes of a measurement (progressive.dev).",
            enum=RESULT_POLICIES,
        ),
        "nanResult": string(
            "What a NaN result makes of a measurement (progressive.dev).", enum=RESULT_POLICIES
        ),
        "provider": Node(
            "object",
            "Exactly one provider: prometheus, web, job, ...",
            free=True,
            min_properties=1,
            max_properties=1,
        ),
    },
    required=("name", "provider"),
)


def _analysis_args(*, run: bool) -> Node:
    return array(
        obj(
            "",
            {"name": string(), "value": string(), "valueFrom": VALUE_FROM},
            required=("name",),
            exactly_one=("value", "valueFrom") if run else (),
            at_most_one=() if run else ("value", "valueFrom"),
        )
    )


_RULES: Final = {
    "dryRun": array(obj("", {"metricName": string()}, required=("metricName",))),
    "measurementRetention": array(
        obj(
            "",
            {"metricName": string(), "limit": integer(low=0, high=INT32_MAX)},
            required=("metricName", "limit"),
        )
    ),
}

ANALYSIS_TEMPLATE_SPEC: Final = obj(
    "Metrics to measure, with arguments; (Cluster)AnalysisTemplates are run as AnalysisRuns.",
    {
        "metrics": array(METRIC),
        "args": _analysis_args(run=False),
        **_RULES,
        "templates": array(TEMPLATE_REF),
    },
)

ANALYSIS_RUN_SPEC: Final = obj(
    "An analysis being run.",
    {
        "metrics": array(METRIC),  # no minItems (as Argo's): a run that could not be built has none
        "args": _analysis_args(run=True),
        **_RULES,
        "terminate": boolean("Stop measuring."),
        "ttlStrategy": obj(
            "",
            {
                "secondsAfterCompletion": integer(low=0, high=INT32_MAX),
                "secondsAfterFailure": integer(low=0, high=INT32_MAX),
                "secondsAfterSuccess": integer(low=0, high=INT32_MAX),
            },
        ),
    },
    required=("metrics",),
)

# -- Experiment ----------------------------------------------------------------------------------

EXPERIMENT_SPEC: Final = obj(
    "ReplicaSets side by side (a baseline and a canary, or A/B variants) judged by analyses.",
    {
        "templates": array(
            obj(
                "",
                {
                    "name": string(),
                    "template": free("The pod template."),
                    "selector": LABEL_SELECTOR,
                    "replicas": integer(),
                    "minReadySeconds": integer(),
                    "service": obj("A Service for this template's pods.", {"name": string()}),
                    "weight": integer("Percent of traffic (needs a traffic router).", 0, 100),
                },
                required=("name", "template"),
            ),
            min_items=1,
        ),
        "duration": duration("How long to run once every ReplicaSet is available."),
        "progressDeadlineSeconds": integer(low=1),
        "terminate": boolean(),
        "scaleDownDelaySeconds": integer(),
        "analyses": array(experiment_analysis()),
        "dryRun": _RULES["dryRun"],
    },
    required=("templates",),
)

# -- OpenAPI ------------------------------------------------------------------------------------


def _has_count(keys: tuple[str, ...]) -> str:
    return " + ".join(f"(has(self.{k}) ? 1 : 0)" for k in keys)


def openapi(node: Node) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``node`` (for a CRD's ``openAPIV3Schema``)."""
    out: dict[str, Any] = {}
    if node.int_or_string:
        out["x-kubernetes-int-or-string"] = True
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif node.type:
        out["type"] = node.type
    if node.description:
        out["description"] = node.description
    if node.properties:
        out["properties"] = {k: openapi(v) for k, v in node.properties.items()}
    if node.required:
        out["required"] = list(node.required)
    if node.items is not None:
        out["items"] = openapi(node.items)
    if node.values is not None:
        out["additionalProperties"] = openapi(node.values)
    if node.free:
        out["x-kubernetes-preserve-unknown-fields"] = True
    for key, value in (
        ("minimum", node.minimum),
        ("maximum", node.maximum),
        ("pattern", node.pattern),
        ("maxLength", node.max_length),
        ("format", node.format),
        ("minItems", node.min_items),
        ("maxItems", node.max_items),
        ("minProperties", node.min_properties),
        ("maxProperties", node.max_properties),
    ):
        if value is not None:
            out[key] = value
    if node.enum:
        out["enum"] = list(node.enum)
    rules = []
    if node.exactly_one:
        rules.append(
            {
                "rule": f"{_has_count(node.exactly_one)} == 1",
                "message": f"must set exactly one of {', '.join(node.exactly_one)}",
            }
        )
    if node.percent:
        rules.append(
            {
                "rule": "type(self) != string || int(self.replace('%', '')) <= 100",
                "message": "a percentage must be at most 100%",
            }
        )
    if node.at_most_one:
        rules.append(
            {
                "rule": f"{_has_count(node.at_most_one)} <= 1",
                "message": f"must set at most one of {', '.join(node.at_most_one)}",
            }
        )
    if rules:
        out["x-kubernetes-validations"] = rules
    return out
