"""Notifications, the pure part: the ConfigMap, subscriptions, triggers, what was sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from progressive.core._notifications import (
    BUILTIN_TRIGGERS,
    Destination,
    NotificationConfig,
    Subscription,
    baseline,
    dump_notified,
    evaluate,
    notified_annotation,
    read_config,
    read_notified,
    render,
    subscriptions,
    template_vars,
)
from progressive.errors import RenderError

from .test_gotemplate import argo_notifications_install


def config(**data: str) -> NotificationConfig:
    """A config from ConfigMap-style data (YAML text per key, ``_`` for ``.``)."""
    return read_config({k.replace("_", "."): yaml.safe_load(v) for k, v in data.items()})


CONFIG = config(
    **{
        "trigger_on-rollout-completed": "- send: [done]",
        "trigger_on-rollout-step-completed": "- send: [step]",
        "trigger_on-rollout-paused": "- send: [done]",
        "trigger_on-rollout-aborted": "- send: [done]",
        "trigger_on-rollout-updated": "- send: [done]",
        "trigger_on-analysis-run-failed": "- send: [done]",
        "trigger_on-purple": "- when: rollout.spec.image == 'purple'\n  send: [done]",
        "trigger_on-replicas": (
            "- when: rollout.spec.replicas > 2\n  oncePer: rollout.spec.replicas\n  send: [done]"
        ),
        "template_done": "message: '{{.rollout.metadata.name}} to {{.recipient}}'",
        "template_step": (
            "message: step {{ add .rollout.status.currentStepIndex 1 }}\n"
            'slack:\n  attachments: \'[{"title": "{{.rollout.metadata.name}}"}]\'\n'
            "webhook:\n  hook:\n    method: POST\n    path: /x/{{.recipient}}\n"
            '    body: \'{"n": "{{.rollout.metadata.name}}"}\''
        ),
    }
)


def rollout(status: dict[str, Any] | None = None, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default", "annotations": annotations},
        "spec": {"replicas": 3, "image": "blue"},
        "status": status or {},
    }


def fired(trigger: str, obj: dict[str, Any], runs: list[dict[str, Any]] | None = None) -> bool:
    sub = Subscription(trigger, Destination("slack", "c"))
    verdicts, problems = evaluate(CONFIG, [sub], obj, runs or [])
    assert not problems and len(verdicts) == 1 and not verdicts[0].error
    return bool(verdicts[0].triggered)


# -- the ConfigMap ---------------------------------------------------------------------------


@pytest.mark.kube  # needs Go, for the module cache
def test_argo_rollouts_notifications_install_reads_with_its_problems_named() -> None:
    data = argo_notifications_install()["data"]
    cfg = read_config({k: yaml.safe_load(v) for k, v in data.items()})
    assert set(cfg.triggers) == set(BUILTIN_TRIGGERS)
    assert len(cfg.templates) == 9
    assert "trigger.on-scaling-replica-set[0]: no `when`" in "\n".join(cfg.problems)
    ignored = [
        p
        for p in cfg.problems
        if p.endswith(
            ".email: not rendered by progressive (it renders message, slack and webhook); ignored"
        )
    ]
    assert len(ignored) == 9
    assert len(cfg.problems) == 10


def test_problems_name_the_key_and_leave_the_rest_working() -> None:
    cfg = config(
        **{
            "trigger_on-bad": "- when: rollout.status.phase ==\n  send: [ok]",
            "trigger_on-unknown-name": "- when: time.Now() > 0\n  send: [ok]",
            "trigger_on-no-when": "- send: [ok]",
            "trigger_on-missing-template": "- when: 'true'\n  send: [nope]",
            "trigger_on-good": "- when: 'true'\n  send: [ok]",
            "template_ok": "message: fine",
            "template_time": "message: '{{ .time.Now }}'",
            "template_secret": "message: '{{ .secrets.token }}'",
            "template_broken": "message: '{{ if }}'",
            "template_threads": "slack:\n  groupingKey: x\n  attachments: '[]'",
            "subscriptions": "- recipients: [slack:x]",
        }
    )
    assert set(cfg.triggers) == {"on-good", "on-missing-template"}
    assert set(cfg.templates) == {"ok", "threads"}
    text = "\n".join(cfg.problems)
    assert "trigger.on-bad[0]: unexpected end of expression" in text
    assert "trigger.on-unknown-name[0]: unknown name 'time'" in text
    assert "trigger.on-no-when[0]: no `when`: only the built-in triggers" in text
    assert "trigger.on-missing-template[0]: no template nope" in text
    assert "template.time.message: reads .time, which progressive does not provide" in text
    assert "template.secret.message: reads .secrets" in text
    assert "template.broken.message: template broken.message:1:1: missing value" in text
    assert "template.threads.slack.groupingKey: not supported (no threads); ignored" in text
    assert "subscriptions: default subscriptions are not supported" in text


# -- subscriptions ---------------------------------------------------------------------------


def test_subscriptions_from_both_prefixes_with_recipients_and_defaults() -> None:
    cfg = config(defaultTriggers="[on-rollout-completed, on-rollout-aborted]")
    cfg = NotificationConfig(
        cfg.triggers, cfg.templates, cfg.default_triggers, {"hook": ("on-rollout-paused",)}
    )
    subs, problems = subscriptions(
        {
            "notifications.argoproj.io/subscribe.on-rollout-completed.slack": "a; b ;",
            "notifications.progressive.dev/subscribe.on-purple.hook": "",
            "notifications.argoproj.io/subscribe.slack": "c",
            "notifications.argoproj.io/subscribe.hook": "",
            "notifications.argoproj.io/subscribe.a.b.c": "x",
            "notifications.argoproj.io/subscriptions": "- trigger: [x]",
            "other.io/subscribe.on-x.slack": "ignored",
        },
        cfg,
    )
    assert [(s.trigger, str(s.destination)) for s in subs] == [
        ("on-purple", "hook"),
        ("on-rollout-aborted", "slack:c"),
        ("on-rollout-completed", "slack:a"),
        ("on-rollout-completed", "slack:b"),
        ("on-rollout-completed", "slack:c"),
        ("on-rollout-paused", "hook"),
    ]
    assert problems == (
        "notifications.argoproj.io/subscribe.a.b.c: expected "
        "notifications.argoproj.io/subscribe.<trigger>.<service>",
        "notifications.argoproj.io/subscriptions: not supported; use "
        "notifications.argoproj.io/subscribe.<trigger>.<service>",
    )


def test_a_subscription_to_an_unconfigured_trigger_is_a_problem() -> None:
    sub = Subscription("on-nothing", Destination("slack", "c"))
    verdicts, problems = evaluate(CONFIG, [sub], rollout())
    assert verdicts == () and problems == ("trigger on-nothing is not configured",)


# -- the built-in triggers, over the statuses progressive writes ------------------------------

UPDATE = [  # an update of a rollout with steps [setWeight, pause 10, setWeight], as stored
    {"phase": "Progressing", "currentStepIndex": 0, "currentPodHash": "new", "stableRS": "old"},
    {
        "phase": "Paused",
        "currentStepIndex": 1,
        "currentPodHash": "new",
        "stableRS": "old",
        "pauseConditions": [{"reason": "CanaryPauseStep"}],
    },
    {"phase": "Progressing", "currentStepIndex": 2, "currentPodHash": "new", "stableRS": "old"},
    {"phase": "Progressing", "currentStepIndex": 3, "currentPodHash": "new", "stableRS": "old"},
    {"phase": "Healthy", "currentStepIndex": 3, "currentPodHash": "new", "stableRS": "new"},
]


def test_builtin_triggers_along_an_update() -> None:
    timeline = {
        trigger: [fired(trigger, rollout(status)) for status in UPDATE]
        for trigger in (
            "on-rollout-updated",
            "on-rollout-step-completed",
            "on-rollout-paused",
            "on-rollout-completed",
            "on-rollout-aborted",
        )
    }
    assert timeline == {
        "on-rollout-updated": [True, True, True, True, False],
        "on-rollout-step-completed": [False, True, True, True, False],
        "on-rollout-paused": [False, True, False, False, False],
        "on-rollout-completed": [False, False, False, False, True],
        "on-rollout-aborted": [False, False, False, False, False],
    }


def test_once_per_tells_the_steps_apart_and_the_state_key_is_notifications_engines() -> None:
    sub = Subscription("on-rollout-step-completed", Destination("slack", "chan"))
    keys = []
    for status in UPDATE[1:4]:
        verdicts, _ = evaluate(CONFIG, [sub], rollout(status))
        keys.append(verdicts[0].state_key)
    empty = "2jmj7l5rSw0yVb_vlWAYkK_YBwk"  # sha1("") in base64url, as notifications-engine
    assert keys == [
        f"[new 1]:on-rollout-step-completed:[0].{empty}:slack:chan",
        f"[new 2]:on-rollout-step-completed:[0].{empty}:slack:chan",
        f"[new 3]:on-rollout-step-completed:[0].{empty}:slack:chan",
    ]


def test_an_initial_deploy_completes_without_steps_or_updates() -> None:
    first = {"phase": "Healthy", "currentStepIndex": 3, "currentPodHash": "a", "stableRS": "a"}
    assert fired("on-rollout-completed", rollout(first))
    assert not fired("on-rollout-step-completed", rollout(first))
    assert not fired("on-rollout-updated", rollout(first))
    assert not fired("on-rollout-completed", rollout())  # not reconciled yet


def test_abort_and_analysis_triggers() -> None:
    aborted = {"phase": "Degraded", "abort": True, "currentPodHash": "n", "stableRS": "o"}
    assert fired("on-rollout-aborted", rollout(aborted))
    runs = [
        {"metadata": {"name": "r1"}, "status": {"phase": "Successful"}},
        {"metadata": {"name": "r2"}},
    ]
    assert not fired("on-analysis-run-failed", rollout(), runs)
    runs.append({"metadata": {"name": "r3"}, "status": {"phase": "Failed"}})
    sub = Subscription("on-analysis-run-failed", Destination("slack", "c"))
    verdicts, _ = evaluate(CONFIG, [sub], rollout(), runs)
    assert verdicts[0].triggered and verdicts[0].once_per == "[r3]"


def test_custom_when_and_once_per_and_errors() -> None:
    obj = rollout()
    assert not fired("on-purple", obj)
    obj["spec"]["image"] = "purple"
    assert fired("on-purple", obj)
    sub = Subscription("on-replicas", Destination("slack", "c"))
    verdicts, _ = evaluate(CONFIG, [sub], obj)
    assert verdicts[0].once_per == "3" and verdicts[0].state_key.startswith("3:on-replicas:")
    obj["spec"]["replicas"] = "three"  # ordering a string and a number: an error
    verdicts, _ = evaluate(CONFIG, [sub], obj)
    assert verdicts[0].triggered is None
    assert "invalid operation: string > int" in verdicts[0].error


# -- what was sent ---------------------------------------------------------------------------


def test_the_notified_annotation_name_follows_the_api_group() -> None:
    assert notified_annotation("argoproj.io/v1alpha1") == "notified.notifications.argoproj.io"
    assert (
        notified_annotation("progressive.dev/v1alpha1") == "notified.notifications.progressive.dev"
    )


def test_the_notified_annotation_keeps_the_newest_keys_and_every_marker() -> None:
    state = {f"k{i}": i for i in range(150)} | {"~t:s:r": 0, "~u:s:r": 1}
    kept = read_notified(dump_notified(state, limit=100))
    assert len(kept) == 100
    assert {"~t:s:r", "~u:s:r"} <= set(kept)
    assert min(v for k, v in kept.items() if not k.startswith("~")) == 52
    assert read_notified("not json") == {} and read_notified('{"a": "x", "b": 2}') == {"b": 2}


def test_a_new_subscription_takes_what_is_true_as_sent() -> None:
    done = {"phase": "Healthy", "currentPodHash": "a", "stableRS": "a"}
    subs = [
        Subscription("on-rollout-completed", Destination("slack", "c")),
        Subscription("on-rollout-paused", Destination("slack", "c")),
    ]
    verdicts, _ = evaluate(CONFIG, subs, rollout(done))
    first = baseline(verdicts, {}, now=7)
    assert first == {
        "~on-rollout-completed:slack:c": 7,
        verdicts[0].state_key: 7,
        "~on-rollout-paused:slack:c": 7,
    }
    assert baseline(verdicts, first, now=8) == {}


# -- rendering -------------------------------------------------------------------------------


def test_step_completed_templates_see_the_step_completed() -> None:
    obj = rollout(UPDATE[2])  # currentStepIndex 2: the second step (index 1) completed
    names = CONFIG.triggers["on-rollout-step-completed"][0].send
    variables = template_vars(obj, [], Destination("hook", ""), "on-rollout-step-completed")
    note = render(CONFIG, names, variables)
    assert note.message == "step 2"
    assert note.slack is not None and json.loads(note.slack.attachments) == [{"title": "web"}]
    assert note.webhook["hook"].method == "POST" and note.webhook["hook"].path == "/x/"
    assert obj["status"]["currentStepIndex"] == 2  # the object itself is untouched


def test_render_names_a_missing_template() -> None:
    with pytest.raises(RenderError, match="template nope is not configured"):
        render(CONFIG, ["nope"], template_vars(rollout(), [], Destination("s", "r")))
