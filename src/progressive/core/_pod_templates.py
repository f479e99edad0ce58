"""Pod templates compared as the API server stores them.

The API server fills in defaults when it stores a ReplicaSet (``dnsPolicy``,
``imagePullPolicy``, ``terminationMessagePath``, probe periods, volume modes...) and
writes quantities in one form (``0.5`` as ``500m``).  A Rollout's template is stored as
it was written, so the template of a revision's ReplicaSet is a *defaulted* copy of the
template that made it, with another hash.  ``undo`` copies that defaulted template back
into the Rollout: compared by hash, it would be a new revision and a duplicate
ReplicaSet.  Argo Rollouts compares the templates after applying the defaults to the
Rollout's (``PodTemplateEqualIgnoreHash`` in ``utils/replicaset``); so does
:func:`adopt_replica_set`.

:func:`normalized` applies the defaults of ``SetObjectDefaults_PodTemplate``
(``k8s.io/kubernetes/pkg/apis/core/v1``) to a template given as plain data.  Defaulting
is idempotent, so a template and the stored copy of it normalize to the same value.

The informers' caches drop a ReplicaSet's pod template (most of its size), so each
ReplicaSet the controller makes carries its template's :func:`template_digest` (a hash
of the normalized template) in the annotation :data:`TEMPLATE_DIGEST_ANNOTATION`; a
ReplicaSet read with its template (the in-memory cluster, the API server) is compared
by the template itself.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any, Final

from ._names import HASH_LABEL
from ._rollout import Rollout, derived, pod_template_hash

__all__ = [
    "TEMPLATE_DIGEST_ANNOTATION",
    "adopt_replica_set",
    "normalized",
    "same_pod_template",
    "template_digest",
    "with_anti_affinity",
    "without_anti_affinity",
]

#: On each ReplicaSet the controller makes: :func:`template_digest` of its pod template.
TEMPLATE_DIGEST_ANNOTATION: Final = "progressive.dev/pod-template-digest"

_POD_SPEC: Final = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}
_CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")
_CONTAINER: Final = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
_PROBE: Final = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}
_HTTP_GET: Final = {"path": "/", "scheme": "HTTP"}
_MODE: Final = 0o644
# volume source -> its defaults (a volume with no source is an emptyDir)
_VOLUME_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "secret": {"defaultMode": _MODE},
    "configMap": {"defaultMode": _MODE},
    "downwardAPI": {"defaultMode": _MODE},
    "projected": {"defaultMode": _MODE},
    "hostPath": {"type": ""},
    "iscsi": {"iscsiInterface": "default"},
    "rbd": {"pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"},
    "azureDisk": {
        "cachingMode": "ReadWrite",
        "fsType": "ext4",
        "readOnly": False,
        "kind": "Shared",
    },
    "scaleIO": {"storageMode": "ThinProvisioned", "fsType": "xfs"},
}
# quantities beyond this many digits are left as they are (never expanded)
_MAX_DIGITS: Final = 40
_QUANTITY: Final = re.compile(r"^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eE][+-]?[0-9]+|[a-zA-Z]*)$")
_SUFFIXES: Final = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{s: Decimal(2) ** (10 * (i + 1)) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}


def normalized(template: Mapping[str, Any]) -> dict[str, Any]:
    """``template`` as the API server would store it in a ReplicaSet, without the
    ``rollouts-pod-template-hash`` label: defaults filled in, nulls and empty
    ``metadata``, ``labels``, ``annotations`` and ``resources`` left out, quantities as
    numbers rounded up to thousandths (as the server rounds them), and the deprecated
    ``serviceAccount`` (the server copies ``serviceAccountName`` into it) left out."""
    out: dict[str, Any] = _without_nulls(dict(template))
    meta = out.get("metadata")
    if isinstance(meta, dict):
        labels = meta.get("labels")
        if isinstance(labels, dict):
            labels.pop(HASH_LABEL, None)
        for key in ("labels", "annotations"):
            if meta.get(key) == {}:
                del meta[key]
        if not meta:
            del out["metadata"]
    spec = out.setdefault("spec", {})
    if isinstance(spec, dict):
        _pod_spec(spec)
        _without_injected_anti_affinity(spec)
    return out


# -- antiAffinity: the rule injected into a new revision's pods --------------------------------

_HOSTNAME: Final = "kubernetes.io/hostname"
_PREFERRED: Final = "preferredDuringSchedulingIgnoredDuringExecution"
_REQUIRED: Final = "requiredDuringSchedulingIgnoredDuringExecution"


def with_anti_affinity(
    template: Mapping[str, Any], stable_hash: str, namespace: str, weight: int | None
) -> dict[str, Any]:
    """``template`` with Argo's injected anti-affinity term: its pods avoid the nodes
    (``kubernetes.io/hostname``) running pods of the stable revision, preferred with
    ``weight``, or required (None).  The template's own affinity is kept."""
    out = copy.deepcopy(dict(template))
    spec = out.setdefault("spec", {})
    affinity = spec.setdefault("affinity", {})
    anti = affinity.setdefault("podAntiAffinity", {})
    term = {
        "labelSelector": {
            "matchExpressions": [{"key": HASH_LABEL, "operator": "In", "values": [stable_hash]}]
        },
        "namespaces": [namespace],
        "topologyKey": _HOSTNAME,
    }
    if weight is None:
        anti.setdefault(_REQUIRED, []).append(term)
    else:
        anti.setdefault(_PREFERRED, []).append({"weight": weight, "podAffinityTerm": term})
    return out


def without_anti_affinity(template: Mapping[str, Any]) -> dict[str, Any]:
    """``template`` without the term :func:`with_anti_affinity` injected (a revision's
    template as the user wrote it: what ``undo`` copies back)."""
    out = copy.deepcopy(dict(template))
    if isinstance(out.get("spec"), dict):
        _without_injected_anti_affinity(out["spec"])
    return out


def _injected(term: object) -> bool:
    """A pod affinity term on the pod-template hash label: the controller's."""
    selector = (term or {}).get("labelSelector") if isinstance(term, Mapping) else None
    expressions = (selector or {}).get("matchExpressions") if isinstance(selector, Mapping) else ()
    return any(isinstance(e, Mapping) and e.get("key") == HASH_LABEL for e in expressions or ())


def _without_injected_anti_affinity(spec: dict[str, Any]) -> None:
    affinity = spec.get("affinity")
    if not isinstance(affinity, dict):
        return
    anti = affinity.get("podAntiAffinity")
    if not isinstance(anti, dict):
        return
    required = [t for t in anti.get(_REQUIRED) or () if not _injected(t)]
    preferred = [
        t
        for t in anti.get(_PREFERRED) or ()
        if not (isinstance(t, Mapping) and _injected(t.get("podAffinityTerm")))
    ]
    for key, kept in ((_REQUIRED, required), (_PREFERRED, preferred)):
        if kept:
            anti[key] = kept
        else:
            anti.pop(key, None)
    if not anti:
        del affinity["podAntiAffinity"]
    if not affinity:
        del spec["affinity"]


def same_pod_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two pod templates are the same once the API server's defaults are
    normalized (the ``rollouts-pod-template-hash`` label aside)."""
    return normalized(a) == normalized(b)


def template_digest(template: Mapping[str, Any]) -> str:
    """A short hash of the :func:`normalized` template: equal for a template and the
    copy of it the API server stores."""
    return pod_template_hash(normalized(template))


def adopt_replica_set(rollout: Rollout, replica_sets: Sequence[Mapping[str, Any]]) -> Rollout:
    """``rollout``, taking the pod-template hash of the ReplicaSet whose template is its
    own once the API server's defaults are normalized, when none of ``replica_sets``
    (the ones it owns) carries its own hash: ``undo`` copied a stored template back, and
    that revision's ReplicaSet is reused rather than duplicated.  The oldest such
    ReplicaSet wins, as in Argo Rollouts.  A ReplicaSet is compared by its template when
    it has one, else by its :data:`TEMPLATE_DIGEST_ANNOTATION`."""
    own = rollout.template_hash()
    hashes = [_hash_of(rs) for rs in replica_sets]
    if not replica_sets or own in hashes:
        return rollout
    wanted = template_digest(rollout.template)
    for rs, pod_hash in sorted(zip(replica_sets, hashes, strict=True), key=_age):
        if pod_hash and _digest_of(rs) == wanted:
            return derived(rollout, adopted_hash=pod_hash)
    return rollout


def _digest_of(rs: Mapping[str, Any]) -> str | None:
    template = (rs.get("spec") or {}).get("template")
    if isinstance(template, Mapping):
        return template_digest(template)
    annotations = (rs.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TEMPLATE_DIGEST_ANNOTATION)
    return value if isinstance(value, str) else None


def _hash_of(rs: Mapping[str, Any]) -> str | None:
    labels = (rs.get("metadata") or {}).get("labels") or {}
    value = labels.get(HASH_LABEL)
    return value if isinstance(value, str) and value else None


def _age(item: tuple[Mapping[str, Any], str | None]) -> tuple[str, str]:
    meta = item[0].get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _defaults(obj: Any, defaults: Mapping[str, Any]) -> None:
    if isinstance(obj, dict):
        for key, value in defaults.items():
            obj.setdefault(key, copy.deepcopy(value))


def _pod_spec(spec: dict[str, Any]) -> None:
    _defaults(spec, _POD_SPEC)
    spec.pop("serviceAccount", None)
    _quantities(spec.get("overhead"))
    _resources(spec)
    for volume in _dicts(spec.get("volumes")):
        _volume(volume)
    for key in _CONTAINER_LISTS:
        for container in _dicts(spec.get(key)):
            _container(container)


def _volume(volume: dict[str, Any]) -> None:
    sources = [key for key in volume if key != "name"]
    if not sources:
        volume["emptyDir"] = {}
    for key in sources:
        source = volume[key]
        if not isinstance(source, dict):
            continue
        _defaults(source, _VOLUME_DEFAULTS.get(key, {}))
        if key == "downwardAPI":
            _field_refs(source.get("items"))
        elif key == "projected":
            for projection in _dicts(source.get("sources")):
                downward = projection.get("downwardAPI")
                if isinstance(downward, dict):
                    _field_refs(downward.get("items"))
                _defaults(projection.get("serviceAccountToken"), {"expirationSeconds": 3600})
        elif key == "ephemeral":
            claim = (source.get("volumeClaimTemplate") or {}).get("spec")
            if isinstance(claim, dict):
                claim.setdefault("volumeMode", "Filesystem")
                _resources(claim)


def _field_refs(items: Any) -> None:
    for item in _dicts(items):
        _defaults(item.get("fieldRef"), {"apiVersion": "v1"})


def _container(container: dict[str, Any]) -> None:
    _defaults(container, _CONTAINER)
    image = container.get("image")
    if "imagePullPolicy" not in container and isinstance(image, str):
        container["imagePullPolicy"] = _pull_policy(image)
    for port in _dicts(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        if isinstance(source, dict):
            _defaults(source.get("fieldRef"), {"apiVersion": "v1"})
            _defaults(source.get("fileKeyRef"), {"optional": False})
    _resources(container)
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        _defaults(probe, _PROBE)
        if isinstance(probe, dict):
            _defaults(probe.get("httpGet"), _HTTP_GET)
            _defaults(probe.get("grpc"), {"service": ""})
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for key in ("postStart", "preStop"):
            handler = lifecycle.get(key)
            if isinstance(handler, dict):
                _defaults(handler.get("httpGet"), _HTTP_GET)


def _pull_policy(image: str) -> str:
    """Always for ``:latest`` (or no tag and no digest), else IfNotPresent."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _resources(owner: dict[str, Any]) -> None:
    resources = owner.get("resources")
    if not isinstance(resources, dict):
        return
    for key in ("limits", "requests"):
        _quantities(resources.get(key))
        if resources.get(key) == {}:
            del resources[key]
    if not resources:
        del owner["resources"]


def _quantities(values: Any) -> None:
    if isinstance(values, dict):
        for key, value in values.items():
            values[key] = _quantity(value)


def _quantity(value: Any) -> Any:
    """A quantity as a number rounded up to thousandths (``"500m"``, ``"0.5"`` and
    ``0.5`` alike); anything unreadable as it is."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return value
    found = _QUANTITY.match(str(value).strip())
    if found is None:
        return value
    number, suffix = found.groups()
    try:
        if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
            amount = Decimal(number + suffix)
        elif suffix in _SUFFIXES:
            amount = Decimal(number) * _SUFFIXES[suffix]
        else:
            return value
        if not amount.is_finite() or abs(amount.adjusted()) > _MAX_DIGITS:
            return value
        milli = (amount * 1000).to_integral_value(rounding=ROUND_CEILING)
    except (InvalidOperation, ValueError):
        return value
    return format((milli / 1000).normalize(), "f")


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
