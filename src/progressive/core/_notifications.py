"""Notifications, the pure part: triggers, templates, subscriptions and what was sent.

Argo Rollouts users configure notifications in a ConfigMap and subscribe a Rollout with
annotations (``notifications.argoproj.io/subscribe.<trigger>.<service>: <recipients>``);
this module reads both, decides what to send and renders it.  The shell
(:mod:`progressive._shell.notifier`) reads the objects, sends, and stores the state.

**Triggers** are lists of conditions ``{when, oncePer, send}``.  ``when`` is an
expression in the condition language of analyses (:mod:`progressive.core._expressions`,
expr-lang's common subset) over ``rollout`` (the object as stored) and ``analysisRuns``
(its runs of the current revision, newest first).  A condition fires when ``when``
becomes true; without ``oncePer`` it may fire again once it has been false, with one it
fires once per value of ``oncePer``.  Argo's built-in triggers (``on-rollout-completed``
...) have no ``when``: Argo sends them when its controller records an Event of that
name.  Here each is a condition over the Rollout's status (:data:`BUILTIN_TRIGGERS`), so
that whether it was sent can be recorded and a restart resumes.

**What was sent** is kept in the Rollout's ``notified.notifications.argoproj.io``
annotation (``notified.notifications.progressive.dev`` on progressive.dev Rollouts), a
JSON object of keys ``[oncePer:]trigger:[i].<hash of when>:service:recipient`` to the
Unix time they were sent, the notifications-engine format, at most
:data:`MAX_NOTIFIED` keys.  A subscription seen for the first time also gets a key
(``~trigger:service:recipient``): what its conditions say then is recorded as sent,
not sent, so subscribing a Rollout that is Healthy since last week sends nothing until
something changes.

**Templates** are Go templates (:mod:`progressive.core._gotemplate`) with ``.rollout``,
``.analysisRuns``, ``.recipient`` and ``.serviceType``; a template reading anything else
(``.time``, ``.secrets``, a typo) is a problem reported when the ConfigMap is read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from ..errors import EvaluationError, ExpressionError, RenderError, TemplateError
from ._expressions import Expression
from ._gotemplate import GoTemplate
from ._template_funcs import go_print

__all__ = [
    "ANNOTATION_PREFIXES",
    "BUILTIN_TRIGGERS",
    "CONFIGMAPS",
    "MAX_FIELD",
    "MAX_NOTIFIED",
    "SECRETS",
    "TEMPLATE_VARIABLES",
    "Condition",
    "Destination",
    "Notification",
    "NotificationConfig",
    "NotificationTemplate",
    "SlackMessage",
    "Subscription",
    "Verdict",
    "WebhookRequest",
    "baseline",
    "dump_notified",
    "evaluate",
    "notified_annotation",
    "read_config",
    "read_notified",
    "render",
    "subscriptions",
    "template_vars",
]

ANNOTATION_PREFIXES: Final = ("notifications.argoproj.io", "notifications.progressive.dev")
#: Where the configuration is, in the controller's namespace: Argo's name first, then
#: progressive's, whose keys win.
CONFIGMAPS: Final = ("argo-rollouts-notification-configmap", "progressive-notification-configmap")
SECRETS: Final = ("argo-rollouts-notification-secret", "progressive-notification-secret")
#: The keys kept in the notified annotation, the oldest dropped first (markers last).
MAX_NOTIFIED: Final = 100
#: The longest a rendered field (a message, a body) may be, in characters.
MAX_FIELD: Final = 64 * 1024
TEMPLATE_VARIABLES: Final = ("rollout", "analysisRuns", "recipient", "serviceType")
CONDITION_VARIABLES: Final = ("rollout", "analysisRuns")
_MARKER: Final = "~"
_STEP_COMPLETED: Final = "on-rollout-step-completed"


def _runs_in(phase: str) -> tuple[str, str]:
    match = f'filter(analysisRuns, {{.status?.phase == "{phase}"}})'
    return f"len({match}) > 0", f"map({match}, {{.metadata.name}})"


#: Argo's built-in triggers, as ``(when, oncePer)`` over the Rollout: what a condition
#: without ``when`` of a trigger of that name means.
BUILTIN_TRIGGERS: Final[Mapping[str, tuple[str, str | None]]] = {
    "on-rollout-completed": (
        'rollout.status.phase == "Healthy" && rollout.status.currentPodHash != nil'
        " && rollout.status.stableRS == rollout.status.currentPodHash",
        "rollout.status.currentPodHash",
    ),
    _STEP_COMPLETED: (
        "(rollout.status.currentStepIndex ?? 0) > 0"
        " && rollout.status.currentPodHash != rollout.status.stableRS",
        "[rollout.status.currentPodHash, rollout.status.currentStepIndex]",
    ),
    "on-rollout-updated": (
        "rollout.status.currentPodHash != nil && rollout.status.stableRS != nil"
        " && rollout.status.currentPodHash != rollout.status.stableRS",
        "rollout.status.currentPodHash",
    ),
    "on-rollout-paused": ("len(rollout.status.pauseConditions) > 0", None),
    "on-rollout-aborted": ("rollout.status.abort == true", None),
    "on-analysis-run-running": _runs_in("Running"),
    "on-analysis-run-failed": _runs_in("Failed"),
    "on-analysis-run-error": _runs_in("Error"),
}


def notified_annotation(api_version: str) -> str:
    """Where a Rollout of ``api_version`` keeps what was sent."""
    prefix = ANNOTATION_PREFIXES[1] if api_version.startswith("progressive.dev/") else None
    return f"notified.{prefix or ANNOTATION_PREFIXES[0]}"


def _hash(text: str) -> str:
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# -- the configuration ---------------------------------------------------------------------


@attrs.frozen
class Condition:
    """One condition of a trigger; ``source`` is the ``when`` as written ("" for a
    built-in trigger's), which names the condition in the notified annotation."""

    index: int
    when: Expression
    once_per: Expression | None
    send: tuple[str, ...]
    source: str

    @property
    def key(self) -> str:
        return f"[{self.index}].{_hash(self.source)}"


@attrs.frozen
class WebhookRequest:
    method: str
    path: str
    body: str


@attrs.frozen
class SlackMessage:
    username: str = ""
    icon: str = ""
    attachments: str = ""
    blocks: str = ""


@attrs.frozen
class Notification:
    """What a template renders: the ``message`` every service may send, and the
    service-specific parts."""

    message: str = ""
    slack: SlackMessage | None = None
    webhook: Mapping[str, WebhookRequest] = attrs.field(factory=dict)


@attrs.frozen
class NotificationTemplate:
    name: str
    message: GoTemplate | None = None
    slack: Mapping[str, GoTemplate] = attrs.field(factory=dict)
    webhook: Mapping[str, tuple[str, GoTemplate, GoTemplate]] = attrs.field(factory=dict)


@attrs.frozen
class NotificationConfig:
    """The triggers and templates of a ConfigMap, and what is wrong with it (each
    problem names the key; a broken trigger or template is left out, the rest works)."""

    triggers: Mapping[str, tuple[Condition, ...]] = attrs.field(factory=dict)
    templates: Mapping[str, NotificationTemplate] = attrs.field(factory=dict)
    default_triggers: tuple[str, ...] = ()
    service_default_triggers: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    problems: tuple[str, ...] = ()


_SLACK_FIELDS: Final = ("username", "icon", "attachments", "blocks")
_SLACK_IGNORED: Final = ("groupingKey", "notifyBroadcast", "deliveryPolicy")


def _strings(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(f"{where}: expected a list of names")
    return ()


def _compile(name: str, text: object, where: str, problems: list[str]) -> GoTemplate | None:
    if not isinstance(text, str):
        problems.append(f"{where}: expected text, got {type(text).__name__}")
        return None
    try:
        template = GoTemplate(name, text)
    except TemplateError as exc:
        problems.append(f"{where}: {exc}")
        return None
    unknown = sorted(template.data_names() - set(TEMPLATE_VARIABLES))
    if unknown:
        known = ", ".join(f".{v}" for v in TEMPLATE_VARIABLES)
        problems.append(
            f"{where}: reads {', '.join('.' + u for u in unknown)}, which progressive does "
            f"not provide (templates see {known})"
        )
        return None
    return template


def _read_template(name: str, body: object, problems: list[str]) -> NotificationTemplate | None:
    where = f"template.{name}"
    if not isinstance(body, Mapping):
        problems.append(f"{where}: expected a mapping")
        return None
    before = len(problems)
    message = None
    if "message" in body:
        message = _compile(f"{name}.message", body["message"], f"{where}.message", problems)
    slack: dict[str, GoTemplate] = {}
    webhook: dict[str, tuple[str, GoTemplate, GoTemplate]] = {}
    for section, value in body.items():
        if section == "message":
            continue
        if section == "slack" and isinstance(value, Mapping):
            for key, text in value.items():
                if key in _SLACK_FIELDS:
                    compiled = _compile(
                        f"{name}.slack.{key}", text, f"{where}.slack.{key}", problems
                    )
                    if compiled is not None:
                        slack[key] = compiled
                elif key in _SLACK_IGNORED:
                    problems.append(f"{where}.slack.{key}: not supported (no threads); ignored")
                else:
                    problems.append(f"{where}.slack.{key}: unknown field; ignored")
        elif section == "webhook" and isinstance(value, Mapping):
            for hook, spec in value.items():
                at = f"{where}.webhook.{hook}"
                if not isinstance(spec, Mapping):
                    problems.append(f"{at}: expected a mapping")
                    continue
                method = str(spec.get("method") or "GET").upper()
                path = _compile(f"{name}.webhook.{hook}.path", spec.get("path", ""), at, problems)
                text = _compile(f"{name}.webhook.{hook}.body", spec.get("body", ""), at, problems)
                if path is not None and text is not None:
                    webhook[str(hook)] = (method, path, text)
        else:
            problems.append(
                f"{where}.{section}: not rendered by progressive (it renders message, "
                "slack and webhook); ignored"
            )
    broken = any(not p.endswith("ignored") for p in problems[before:])
    if broken:
        return None
    return NotificationTemplate(name, message, slack, webhook)


def _read_trigger(name: str, body: object, problems: list[str]) -> tuple[Condition, ...] | None:
    where = f"trigger.{name}"
    if not isinstance(body, list) or not all(isinstance(c, Mapping) for c in body):
        problems.append(f"{where}: expected a list of conditions")
        return None
    conditions = []
    for i, spec in enumerate(body):
        at = f"{where}[{i}]"
        when_text = spec.get("when") or ""
        once_text = spec.get("oncePer") or ""
        if not isinstance(when_text, str) or not isinstance(once_text, str):
            problems.append(f"{at}: when and oncePer must be text")
            return None
        builtin = BUILTIN_TRIGGERS.get(name)
        implied_when, implied_once = builtin if builtin is not None else ("", None)
        if not when_text and builtin is None:
            known = ", ".join(BUILTIN_TRIGGERS)
            problems.append(
                f"{at}: no `when`: only the built-in triggers fire without one ({known})"
            )
            return None
        send = _strings(spec.get("send") or [], f"{at}.send", problems)
        try:
            when = Expression.parse(when_text or implied_when, CONDITION_VARIABLES)
            once = once_text or ("" if when_text else implied_once or "")
            once_per = Expression.parse(once, CONDITION_VARIABLES) if once else None
        except ExpressionError as exc:
            problems.append(f"{at}: {exc}")
            return None
        conditions.append(Condition(i, when, once_per, send, when_text))
    return tuple(conditions)


def read_config(entries: Mapping[str, object]) -> NotificationConfig:
    """The triggers and templates of a ConfigMap's ``data``, each value already decoded
    from YAML (``trigger.<name>``, ``template.<name>``, ``defaultTriggers``,
    ``defaultTriggers.<service>``; ``service.*`` keys are the shell's)."""
    problems: list[str] = []
    triggers: dict[str, tuple[Condition, ...]] = {}
    templates: dict[str, NotificationTemplate] = {}
    defaults: tuple[str, ...] = ()
    per_service: dict[str, tuple[str, ...]] = {}
    for key in sorted(entries):
        value = entries[key]
        kind, _, name = key.partition(".")
        if kind == "trigger" and name:
            trigger = _read_trigger(name, value, problems)
            if trigger is not None:
                triggers[name] = trigger
        elif kind == "template" and name:
            template = _read_template(name, value, problems)
            if template is not None:
                templates[name] = template
        elif key == "defaultTriggers":
            defaults = _strings(value, key, problems)
        elif kind == "defaultTriggers" and name:
            per_service[name] = _strings(value, key, problems)
        elif key == "subscriptions":
            problems.append(
                "subscriptions: default subscriptions are not supported; subscribe each "
                "Rollout with annotations"
            )
    for name, conditions in triggers.items():
        for condition in conditions:
            for wanted in condition.send:
                if wanted not in templates:
                    problems.append(f"trigger.{name}[{condition.index}]: no template {wanted}")
    return NotificationConfig(triggers, templates, defaults, per_service, tuple(problems))


# -- subscriptions -----------------------------------------------------------------------


@attrs.frozen(order=True)
class Destination:
    service: str
    recipient: str

    def __str__(self) -> str:
        return f"{self.service}:{self.recipient}" if self.recipient else self.service


@attrs.frozen(order=True)
class Subscription:
    trigger: str
    destination: Destination

    @property
    def marker(self) -> str:
        d = self.destination
        return f"{_MARKER}{self.trigger}:{d.service}:{d.recipient}"


def subscriptions(
    annotations: Mapping[str, object], config: NotificationConfig
) -> tuple[tuple[Subscription, ...], tuple[str, ...]]:
    """The subscriptions a Rollout's annotations make, and what is wrong with them.

    ``<prefix>/subscribe.<trigger>.<service>: a;b`` subscribes recipients ``a`` and
    ``b`` (an empty value: the service's one destination, a webhook's);
    ``<prefix>/subscribe.<service>`` subscribes to the default triggers.
    """
    found: set[Subscription] = set()
    problems: list[str] = []
    for key, value in annotations.items():
        prefix, _, rest = key.partition("/")
        if prefix not in ANNOTATION_PREFIXES:
            continue
        if rest.startswith("subscriptions"):
            problems.append(f"{key}: not supported; use {prefix}/subscribe.<trigger>.<service>")
            continue
        if not rest.startswith("subscribe."):
            continue
        parts = rest.removeprefix("subscribe.").split(".")
        if len(parts) > 2 or not all(parts):
            problems.append(f"{key}: expected {prefix}/subscribe.<trigger>.<service>")
            continue
        text = value if isinstance(value, str) else ""
        recipients = [r.strip() for r in text.split(";") if r.strip()] or [""]
        if len(parts) == 2:
            trigger_names: Iterable[str] = (parts[0],)
            service = parts[1]
        else:
            service = parts[0]
            trigger_names = config.service_default_triggers.get(service, config.default_triggers)
            if not trigger_names:
                problems.append(
                    f"{key}: no trigger named, and the ConfigMap has no defaultTriggers"
                )
        for trigger in trigger_names:
            for recipient in recipients:
                found.add(Subscription(trigger, Destination(service, recipient)))
    return tuple(sorted(found)), tuple(problems)


# -- evaluating --------------------------------------------------------------------------


@attrs.frozen
class Verdict:
    """What one condition says for one subscription: ``triggered`` None when it could
    not be evaluated (``error`` says why)."""

    subscription: Subscription
    condition: Condition
    triggered: bool | None
    once_per: str = ""
    error: str = ""

    @property
    def state_key(self) -> str:
        d = self.subscription.destination
        key = f"{self.subscription.trigger}:{self.condition.key}:{d.service}:{d.recipient}"
        return f"{self.once_per}:{key}" if self.once_per else key


def _env(rollout: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> dict[str, object]:
    status = rollout.get("status")
    if not isinstance(status, Mapping):
        rollout = {**rollout, "status": {}}
    return {"rollout": rollout, "analysisRuns": list(runs)}


def evaluate(
    config: NotificationConfig,
    subs: Sequence[Subscription],
    rollout: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]] = (),
) -> tuple[tuple[Verdict, ...], tuple[str, ...]]:
    """Every condition of every subscribed trigger, for the Rollout as given; and the
    subscriptions naming a trigger the ConfigMap lacks."""
    env = _env(rollout, runs)
    verdicts: list[Verdict] = []
    problems: list[str] = []
    cache: dict[int, tuple[bool | None, str, str]] = {}
    for sub in subs:
        conditions = config.triggers.get(sub.trigger)
        if conditions is None:
            problems.append(f"trigger {sub.trigger} is not configured")
            continue
        for condition in conditions:
            if id(condition) not in cache:
                cache[id(condition)] = _judge(condition, env)
            triggered, once_per, error = cache[id(condition)]
            verdicts.append(Verdict(sub, condition, triggered, once_per, error))
    return tuple(verdicts), tuple(problems)


def _judge(condition: Condition, env: Mapping[str, object]) -> tuple[bool | None, str, str]:
    try:
        if not condition.when.evaluate_bool(env):
            return False, "", ""
        once_per = ""
        if condition.once_per is not None:
            once_per = go_print(condition.once_per.evaluate(env), top=False)
        return True, once_per, ""
    except EvaluationError as exc:
        return None, "", str(exc)


def baseline(verdicts: Sequence[Verdict], state: Mapping[str, int], now: int) -> dict[str, int]:
    """The keys to record for the subscriptions seen for the first time (no marker in
    ``state``): their marker, and what their conditions say now, as if sent."""
    record: dict[str, int] = {}
    for verdict in verdicts:
        marker = verdict.subscription.marker
        if marker in state:
            continue
        record[marker] = now
        if verdict.triggered:
            record[verdict.state_key] = now
    return record


# -- the notified annotation ---------------------------------------------------------------


def read_notified(text: object) -> dict[str, int]:
    """The notified annotation's keys (an unreadable one reads as empty)."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, Mapping):
        return {}
    return {
        str(k): int(v)
        for k, v in data.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def dump_notified(state: Mapping[str, int], limit: int = MAX_NOTIFIED) -> str:
    """The annotation's text: at most ``limit`` keys, the oldest sent dropped first and
    the subscription markers last."""
    keys = sorted(state, key=lambda k: (not k.startswith(_MARKER), -state[k], k))
    return json.dumps({k: state[k] for k in sorted(keys[:limit])}, separators=(",", ":"))


# -- rendering -----------------------------------------------------------------------------


def template_vars(
    rollout: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    destination: Destination,
    trigger: str = "",
) -> dict[str, object]:
    """What a template sees.  For ``on-rollout-step-completed``,
    ``.rollout.status.currentStepIndex`` is the index of the step completed, as Argo's
    templates expect (Argo renders the Rollout as it was before the step moved on)."""
    env = _env(rollout, runs)
    if trigger == _STEP_COMPLETED:
        status = dict(rollout.get("status") or {})
        index = status.get("currentStepIndex")
        if isinstance(index, int) and not isinstance(index, bool) and index > 0:
            status["currentStepIndex"] = index - 1
            env["rollout"] = {**rollout, "status": status}
    return {**env, "recipient": destination.recipient, "serviceType": destination.service}


def render(
    config: NotificationConfig, names: Sequence[str], variables: Mapping[str, object]
) -> Notification:
    """The notification the templates ``names`` make, later ones overriding earlier
    ones field by field.

    Raises:
        RenderError: a template is missing or failed (the message names it).
    """
    message = ""
    slack: dict[str, str] = {}
    webhook: dict[str, WebhookRequest] = {}
    has_slack = False
    for name in names:
        template = config.templates.get(name)
        if template is None:
            raise RenderError(f"template {name} is not configured")
        if template.message is not None:
            message = template.message.render(variables, max_output=MAX_FIELD)
        for key, field in template.slack.items():
            has_slack = True
            slack[key] = field.render(variables, max_output=MAX_FIELD)
        for hook, (method, path, body) in template.webhook.items():
            webhook[hook] = WebhookRequest(
                method,
                path.render(variables, max_output=MAX_FIELD),
                body.render(variables, max_output=MAX_FIELD),
            )
    return Notification(message, SlackMessage(**slack) if has_slack else None, webhook)
