"""progressive._loader: files and folders in, objects and problems out, never an exception."""

from __future__ import annotations

import io
import json
import socket
import sys
import textwrap
from pathlib import Path

import attrs
import pytest
import yaml

from progressive._loader import Documents, Problem, load_documents, parse_documents
from progressive._safe_load import MAX_FILE_BYTES, read_file
from progressive.core import Rollout
from progressive.core._bounds import MAX_DEPTH
from progressive.core._rollout import BlueGreenStrategy, CanaryStrategy
from progressive.errors import FieldProblem

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: app
spec:
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers: [{name: app, image: "nginx:1.25"}]
  strategy:
    canary:
      canaryService: app-canary
      stableService: app-stable
      trafficRouting:
        nginx: {stableIngress: app}
      steps:
      - setWeight: 20
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: service-name, value: app-canary}]
      - pause: {duration: 10m}
"""

TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: service-name
  metrics:
  - name: success-rate
    interval: 1m
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(requests{service="{{args.service-name}}"}[5m]))
"""

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: app-canary}
spec: {selector: {app: app}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: app-stable}
spec: {selector: {app: app}, ports: [{port: 80}]}
"""

ALL = "---\n".join([ROLLOUT, TEMPLATE, SERVICES])


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


def lines(documents: Documents, severity: str | None = None) -> list[str]:
    return [str(p) for p in documents.problems if severity in (None, p.severity)]


def load_text(text: str, name: str = "m.yaml", **kwargs: bool) -> Documents:
    return parse_documents([(name, textwrap.dedent(text))], **kwargs)


# -- files, folders and kinds -----------------------------------------------------------


def test_multi_document_file_routes_each_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "app.yaml", ALL)
    docs = load_documents([path])

    assert docs.problems == ()
    assert docs.files == (str(path),)
    assert [(d.index, d.kind, d.name) for d in docs.documents] == [
        (0, "Rollout", "app"),
        (1, "AnalysisTemplate", "success-rate"),
        (2, "Service", "app-canary"),
        (3, "Service", "app-stable"),
    ]
    [rollout] = docs.rollouts
    assert isinstance(rollout, Rollout)
    assert rollout.name == "app"
    assert [t.name for t in docs.analysis_templates] == ["success-rate"]
    assert [s.name for s in docs.services] == ["app-canary", "app-stable"]
    assert docs.services[0].raw["spec"]["ports"] == [{"port": 80}]
    assert docs.cluster_analysis_templates == []
    assert docs.analysis_runs == []
    assert docs.ok


def test_every_referenced_kind_is_kept_raw() -> None:
    kinds = {
        "Experiment": "argoproj.io/v1alpha1",
        "Service": "v1",
        "Ingress": "networking.k8s.io/v1",
        "VirtualService": "networking.istio.io/v1beta1",
        "DestinationRule": "networking.istio.io/v1beta1",
        "TrafficSplit": "split.smi-spec.io/v1alpha2",
        "HTTPRoute": "gateway.networking.k8s.io/v1",
        "GRPCRoute": "gateway.networking.k8s.io/v1",
        "Deployment": "apps/v1",
        "ConfigMap": "v1",
        "Secret": "v1",
    }
    text = "---\n".join(
        f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x-{i}}}\nspec: {{a: {i}}}\n"
        for i, (kind, api) in enumerate(kinds.items())
    )
    docs = load_text(text)
    assert docs.problems == ()
    accessors = {
        "Experiment": docs.experiments,
        "Service": docs.services,
        "Ingress": docs.ingresses,
        "VirtualService": docs.virtual_services,
        "DestinationRule": docs.destination_rules,
        "TrafficSplit": docs.traffic_splits,
        "HTTPRoute": docs.http_routes,
        "GRPCRoute": docs.grpc_routes,
        "Deployment": docs.deployments,
        "ConfigMap": docs.config_maps,
        "Secret": docs.secrets,
    }
    for i, (kind, found) in enumerate(accessors.items()):
        [document] = found
        assert (document.kind, document.api_version, document.name) == (kind, kinds[kind], f"x-{i}")
        assert document.raw["spec"] == {"a": i}
        assert document.parsed is None


def test_cluster_templates_and_runs_are_parsed() -> None:
    cluster = TEMPLATE.replace("kind: AnalysisTemplate", "kind: ClusterAnalysisTemplate")
    run = textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: AnalysisRun
        metadata: {name: app-run, namespace: prod}
        spec:
          metrics:
          - name: up
            provider: {job: {spec: {template: {spec: {containers: []}}}}}
        """)
    docs = load_text("---\n".join([cluster, run]))
    assert lines(docs, "error") == []
    [template] = docs.cluster_analysis_templates
    assert template.cluster_scope and template.name == "success-rate"
    assert docs.analysis_templates == []
    [analysis_run] = docs.analysis_runs
    assert (analysis_run.name, analysis_run.namespace) == ("app-run", "prod")


def test_folders_are_searched_recursively_in_sorted_order(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", SERVICES.split("---\n")[0])
    write(tmp_path, "a/z.yml", SERVICES.split("---\n")[1])
    write(tmp_path, "a.json", json.dumps(yaml.safe_load(TEMPLATE)))
    write(tmp_path, "notes.txt", "not a manifest")
    write(tmp_path, ".hidden.yaml", "- not read")
    write(tmp_path, ".git/config.yaml", "- not read")
    docs = load_documents([tmp_path])
    assert docs.problems == ()
    assert [Path(f).relative_to(tmp_path).as_posix() for f in docs.files] == [
        "a/z.yml",
        "a.json",
        "b.yaml",
    ]
    assert [d.kind for d in docs.documents] == ["Service", "AnalysisTemplate", "Service"]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path, "svc.yaml", SERVICES)
    docs = load_documents([path, tmp_path, str(path)])
    assert docs.files == (str(path),)
    assert len(docs.services) == 2


def test_an_empty_folder_is_a_warning(tmp_path: Path) -> None:
    docs = load_documents([tmp_path])
    assert lines(docs) == [f"{tmp_path}: no .yaml, .yml or .json files found"]
    assert docs.ok


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(SERVICES.encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    docs = load_documents(["-"])
    assert docs.files == ("<stdin>",)
    assert [s.name for s in docs.services] == ["app-canary", "app-stable"]


def test_files_that_are_not_regular_files_are_refused(tmp_path: Path) -> None:
    """Devices, sockets, FIFOs: tests/cli/test_lint.py runs the two that used to stall
    the command (/dev/zero never ends, a FIFO blocks) through the command itself."""
    folder = tmp_path / "manifests"
    write(folder, "app.yaml", SERVICES)
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(folder / "socket.yaml"))
        docs = load_documents([folder, "/dev/null"])
    hint = "manifests are read from regular files, or from standard input with '-'"
    assert lines(docs) == [
        f"{folder / 'socket.yaml'}: cannot read a socket: {hint}",
        f"/dev/null: cannot read a character device: {hint}",
    ]
    assert [s.name for s in docs.services] == ["app-canary", "app-stable"]


def test_files_larger_than_the_cap_are_refused(tmp_path: Path) -> None:
    big, exact = tmp_path / "big.yaml", tmp_path / "exact.yaml"
    for path, size in ((big, MAX_FILE_BYTES + 1), (exact, MAX_FILE_BYTES)):
        with path.open("wb") as handle:  # sparse: no disk used
            handle.truncate(size)
    assert lines(load_documents([big])) == [
        f"{big}: is larger than 32 MiB, the most read from one file or standard input: split it"
    ]
    assert len(read_file(str(exact))) == MAX_FILE_BYTES


def test_standard_input_is_capped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    endless = io.BufferedReader(io.BytesIO(b"#" * (MAX_FILE_BYTES + 1)))  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(endless))
    assert lines(load_documents(["-"])) == [
        "<stdin>: is larger than 32 MiB, the most read from one file or standard input: split it"
    ]


def test_json_files_one_or_several_values(tmp_path: Path) -> None:
    one = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"x": 1e5}}
    two = dict(one, metadata={"name": "b"})
    path = write(tmp_path, "svc.json", json.dumps(one, indent="\t") + "\n" + json.dumps(two))
    docs = load_documents([path])
    assert docs.problems == ()
    assert [s.name for s in docs.services] == ["a", "b"]
    assert docs.services[0].raw["spec"]["x"] == 100000.0  # JSON numbers, not YAML 1.1


def test_kind_list_items_are_objects() -> None:
    text = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                yaml.safe_load(SERVICES.split("---\n")[0]),
                "junk",
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": 5}},
            ],
        }
    )
    docs = load_text(text)
    assert [(d.kind, d.name, d.item) for d in docs.documents] == [
        ("Service", "app-canary", 0),
        ("Service", "", 2),
    ]
    assert lines(docs) == [
        "m.yaml: items[1]: must be an object, got str",
        "m.yaml: items[2].metadata.name: must be a string, got int",
    ]


# -- both API groups and Argo's defaults --------------------------------------------------


def test_both_api_versions_load_the_same_rollout() -> None:
    argo = load_text(ROLLOUT).rollouts
    ours = load_text(ROLLOUT.replace("argoproj.io/v1alpha1", "progressive.dev/v1alpha1")).rollouts
    assert len(argo) == len(ours) == 1
    assert argo[0].api_version == "argoproj.io/v1alpha1"
    assert ours[0].api_version == "progressive.dev/v1alpha1"
    assert attrs.evolve(argo[0], api_version="x") == attrs.evolve(ours[0], api_version="x")


def test_other_api_versions_are_refused() -> None:
    docs = load_text(ROLLOUT.replace("argoproj.io/v1alpha1", "argoproj.io/v1"))
    assert docs.rollouts == []
    assert lines(docs, "error") == [
        "m.yaml: apiVersion: must be one of argoproj.io/v1alpha1, progressive.dev/v1alpha1, "
        "got 'argoproj.io/v1'"
    ]
    experiment = "apiVersion: argoproj.io/v2\nkind: Experiment\nmetadata: {name: e}\n"
    assert lines(load_text(experiment)) == [
        "m.yaml: apiVersion: must be one of argoproj.io/v1alpha1, progressive.dev/v1alpha1, "
        "got 'argoproj.io/v2'"
    ]


MINIMAL = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec: {containers: [{name: app, image: nginx}]}
  strategy:
"""


def test_canary_defaults_are_argos() -> None:
    [rollout] = load_text(MINIMAL + "    canary: {}\n").rollouts
    assert rollout.namespace == "default"
    assert rollout.replicas == 1
    assert rollout.revision_history_limit == 10
    assert rollout.progress_deadline_seconds == 600
    assert rollout.min_ready_seconds == 0
    assert rollout.paused is False
    canary = rollout.strategy
    assert isinstance(canary, CanaryStrategy)
    assert canary.max_surge == "25%"
    assert canary.max_unavailable == "25%"
    assert canary.scale_down_delay_seconds == 30
    assert canary.abort_scale_down_delay_seconds == 30
    assert canary.steps == ()
    assert canary.traffic_routing is None


def test_traffic_routing_defaults_are_argos() -> None:
    canary = """\
    canary:
      canaryService: c
      stableService: s
      trafficRouting: {istio: {virtualService: {name: vs}}}
"""
    [rollout] = load_text(MINIMAL + canary).rollouts
    assert rollout.canary is not None and rollout.canary.traffic_routing is not None
    assert rollout.canary.traffic_routing.max_traffic_weight == 100
    assert rollout.canary.traffic_routing.managed_routes == ()


def test_blue_green_defaults_are_argos() -> None:
    [rollout] = load_text(MINIMAL + "    blueGreen: {activeService: active}\n").rollouts
    blue_green = rollout.strategy
    assert isinstance(blue_green, BlueGreenStrategy)
    assert blue_green.auto_promotion_enabled is True
    assert blue_green.auto_promotion_seconds is None
    assert blue_green.scale_down_delay_seconds == 30
    assert blue_green.abort_scale_down_delay_seconds == 30
    assert blue_green.preview_service is None
    assert rollout.replicas == 1
    assert rollout.revision_history_limit == 10
    assert rollout.progress_deadline_seconds == 600


# -- bad content ---------------------------------------------------------------------------


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", SERVICES + "---\nkind: Service\nmetadata:\n  name: [x\n")
    docs = load_documents([path])
    # the documents before the error are kept
    assert [s.name for s in docs.services] == ["app-canary", "app-stable"]
    [problem] = docs.problems
    assert problem.file == str(path) and problem.error.path == str(path)
    assert str(problem).startswith(f"{path}: line 14, column 1: ")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: b: c\n", "line 1, column 5"),
        ("a:\n  - b\n c: d\n", "line 3, column 2"),
        ("a: 'unterminated\n", "line 2, column 1"),
        ("a: !Ref x\n", "line 1, column 4"),
        ("a:\n\tb: 1\n", "line 2, column 1"),
        ("a: \x01\n", "line 1, column 4"),
    ],
)
def test_yaml_errors_are_problems(text: str, where: str) -> None:
    docs = parse_documents([("x.yaml", text)])
    [problem] = docs.problems
    assert problem.severity == "error"
    assert str(problem).startswith(f"x.yaml: {where}: "), str(problem)


def test_non_utf8_bytes(tmp_path: Path) -> None:
    latin1 = "kind: Service\nmetadata:\n  name: caf\xe9\n".encode("latin-1")
    path = write(tmp_path, "latin1.yaml", latin1)
    docs = load_documents([path])
    assert lines(docs) == [
        f"{path}: line 3, column 12: not valid UTF-8 (byte 0xe9); manifests must be UTF-8 text"
    ]
    assert docs.documents == ()


def test_byte_order_marks_are_accepted(tmp_path: Path) -> None:
    utf8 = write(tmp_path, "a.yaml", b"\xef\xbb\xbf" + SERVICES.encode())
    utf16 = write(tmp_path, "b.yaml", SERVICES.encode("utf-16"))
    for path in (utf8, utf16):
        docs = load_documents([path])
        assert docs.problems == ()
        assert [s.name for s in docs.services] == ["app-canary", "app-stable"]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    docs = load_documents([missing])
    assert lines(docs) == [f"{missing}: cannot read: No such file or directory"]
    assert docs.problems[0].error == FieldProblem(
        str(missing), "cannot read: No such file or directory"
    )


def test_documents_that_are_not_objects() -> None:
    docs = load_text("- a list\n---\njust text\n---\n\n---\n" + SERVICES.split("---\n")[0])
    assert lines(docs) == [
        "m.yaml#0: must be an object with apiVersion and kind, got list",
        "m.yaml#1: must be an object with apiVersion and kind, got str",
    ]
    # document indexes count every document of the stream, empty ones included
    assert [d.index for d in docs.documents] == [3]
    assert [p.document for p in docs.problems] == [0, 1]
    assert [p.error.path for p in docs.problems] == ["m.yaml#0", "m.yaml#1"]


def test_a_single_document_file_is_located_by_its_name() -> None:
    assert lines(load_text("[1, 2]\n")) == [
        "m.yaml: must be an object with apiVersion and kind, got list"
    ]
    problems = load_text(ROLLOUT.replace("setWeight: 20", "setWeight: 200")).problems
    assert [str(p) for p in problems] == [
        "m.yaml: spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, got 200"
    ]
    assert problems[0] == Problem(
        "m.yaml",
        FieldProblem(
            "spec.strategy.canary.steps[0].setWeight", "must be between 0 and 100, got 200"
        ),
    )


def test_field_problems_in_multi_document_files_name_the_document() -> None:
    docs = load_text(SERVICES + "---\n" + ROLLOUT.replace("setWeight: 20", "setWeight: 200"))
    [problem] = docs.errors
    assert problem.document == 2
    assert str(problem) == (
        "m.yaml#2: spec.strategy.canary.steps[0].setWeight: must be between 0 and 100, got 200"
    )


def test_header_fields_of_plain_kinds() -> None:
    docs = load_text(
        """\
        apiVersion: v1
        metadata: {name: a}
        ---
        kind: Service
        metadata: {name: a}
        ---
        apiVersion: v1
        kind: Service
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: "", namespace: 3}
        """
    )
    assert lines(docs) == [
        "m.yaml#0: kind: is required",
        "m.yaml#1: apiVersion: is required",
        "m.yaml#2: metadata: is required",
        "m.yaml#3: metadata.name: is required",
        "m.yaml#3: metadata.namespace: must be a string, got int",
    ]


def test_unknown_kinds_are_warnings() -> None:
    docs = load_text(
        """\
        apiVersion: argoproj.io/v1alpha1
        kind: Rolout
        metadata: {name: a}
        ---
        apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: argo-cd-app}
        """
    )
    assert docs.ok
    assert lines(docs, "warning") == [
        "m.yaml#0: kind: 'Rolout' is not a kind progressive reads (ignored) "
        "(did you mean Rollout?)",
        "m.yaml#1: kind: 'Application' is not a kind progressive reads (ignored)",
    ]
    assert [d.kind for d in docs.documents] == ["Rolout", "Application"]


def test_duplicate_keys_are_errors() -> None:
    docs = load_text(
        """\
        apiVersion: v1
        kind: Service
        metadata: {name: a}
        spec:
          ports: []
        spec:
          ports: []
        """
    )
    assert lines(docs) == [
        "m.yaml: line 6, column 1: duplicate key 'spec' (first at line 4, column 1); "
        "Kubernetes refuses it"
    ]


def test_duplicate_keys_in_json_are_errors_as_in_yaml(tmp_path: Path) -> None:
    service = (
        '{"apiVersion": "v1", "kind": "Service", "kind": "Service",'
        ' "metadata": {"name": "a", "labels": {"x": "1", "y": "2", "x": "3"}},'
        ' "spec": {"ports": [{"port": 80, "port": 81}]}}'
    )
    path = write(tmp_path, "svc.json", service + "\n" + service.replace('"a"', '"b"'))
    docs = load_documents([path])
    location = f"{path}#0"
    assert lines(docs)[:3] == [
        f"{location}: duplicate key 'kind'; Kubernetes refuses it",
        f"{location}: metadata.labels: duplicate key 'x'; Kubernetes refuses it",
        f"{location}: spec.ports[0]: duplicate key 'port'; Kubernetes refuses it",
    ]
    assert len(docs.errors) == 6  # the second document's, too
    # as in YAML, the object is still read (the last value wins) for the other checks
    assert [s.raw["metadata"]["labels"]["x"] for s in docs.services] == ["3", "3"]
    same = json.loads(service)
    assert load_text(json.dumps(same), "svc.json").problems == ()


def test_merge_keys_are_not_duplicates() -> None:
    docs = load_text(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata: &meta {name: a, labels: {x: y}}
        data:
          <<: {a: "1", b: "2"}
          b: "3"
        """
    )
    assert docs.problems == ()
    assert docs.config_maps[0].raw["data"] == {"a": "1", "b": "3"}


def test_timestamps_stay_strings() -> None:
    [service] = load_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
        "  creationTimestamp: 2024-01-02T03:04:05Z\n  annotations: {day: 2024-13-45}\n"
    ).services
    assert service.raw["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert service.raw["metadata"]["annotations"] == {"day": "2024-13-45"}


def test_duplicate_objects_are_warnings() -> None:
    docs = load_text(SERVICES + "---\n" + SERVICES.split("---\n")[0])
    assert lines(docs) == [
        "m.yaml#2: metadata.name: another Service named 'app-canary' is in m.yaml#0 "
        "(applying both keeps only the last)"
    ]


def test_problems_are_in_file_order(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "[1]\n")
    b = write(tmp_path, "b.yaml", "kind: Service\nmetadata: {name: x}\n---\n- 2\n---\nx: [\n")
    docs = load_documents([b, a])
    assert lines(docs) == [
        f"{b}#0: apiVersion: is required",
        f"{b}#1: must be an object with apiVersion and kind, got list",
        f"{b}: line 7, column 1: did not find expected node content"
        if yaml.__with_libyaml__
        else f"{b}: line 7, column 1: expected the node content, but found '<stream end>'",
        f"{a}: must be an object with apiVersion and kind, got list",
    ]


# -- hostile documents ---------------------------------------------------------------------


def test_deep_nesting_is_refused_without_recursion_errors() -> None:
    depth = 5000
    header = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    deep = header + "data: " + "[" * depth + "]" * depth
    docs = load_text(deep)
    assert len(docs.problems) == 1
    assert docs.problems[0].severity == "error"
    shallow = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: " + "[" * 90 + "]" * 90
    assert load_text(shallow).problems == ()
    too_deep = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: " + "[" * 120 + "]" * 120
    assert lines(load_text(too_deep)) == [
        f"m.yaml: x[0][0][0][0][0][0][0]...: is nested more than {MAX_DEPTH} levels deep"
    ]


def test_deep_block_nesting_does_not_crash() -> None:
    # libyaml recurses on the C stack: such text goes to the pure-Python loader
    docs = load_text("- " * 100_000 + "x\n")
    assert [p.severity for p in docs.problems] == ["error"]


@pytest.mark.parametrize("padding", ["", "# " + "x" * 1000 + "\n"], ids=["libyaml", "python"])
def test_both_yaml_readers_answer_alike(padding: str) -> None:
    """A long line sends the text to the pure-Python reader (it cannot overflow the C
    stack); the answers, and the lines they name, are the same."""
    shift = padding.count("\n")
    header = padding + "apiVersion: v1\nkind: ConfigMap\n"
    docs = load_text(header + "metadata: {name: a, name: b}\ndata: {d: 2024-01-01}\n")
    assert lines(docs) == [
        f"m.yaml: line {3 + shift}, column 21: duplicate key 'name' "
        f"(first at line {3 + shift}, column 12); Kubernetes refuses it"
    ]
    assert docs.config_maps[0].raw["data"] == {"d": "2024-01-01"}
    control = load_text(header + "metadata: {name: \u00e9\u00e9\x01}\n")
    assert lines(control) == [
        f"m.yaml: line {3 + shift}, column 20: character #x0001 is not allowed in YAML"
    ]
    huge = load_text(header + "metadata: {name: a}\nx: " + "1" * 4000 + "\n")
    assert lines(huge) == [f"m.yaml: line {4 + shift}, column 4: integer is too large"]


def test_alias_bombs_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)
    )
    docs = load_text(bomb)
    assert lines(docs) == ["m.yaml: has more than 1000000 values once YAML aliases are expanded"]
    cycle = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: &d [*d]\n")
    assert [p.severity for p in cycle.problems] == ["error"]


def test_huge_integers_are_refused() -> None:
    header = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    docs = load_text(header + "x: " + "9" * 5000 + "\n")
    assert lines(docs) == ["m.yaml: line 4, column 4: integer is too large"]
    ok = load_text(ROLLOUT.replace("setWeight: 20", "setWeight: 1000000000000000000000000000000"))
    [problem] = ok.problems
    assert problem.error.path == "spec.strategy.canary.steps[0].setWeight"
    assert problem.error.message.startswith("must be between 0 and 100, got ")


def test_a_reader_that_raises_becomes_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a reader must not stop the loader (nor hide the other documents)."""
    import progressive._loader as loader

    def broken(obj: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(loader, "read_rollout", broken)
    docs = load_text(ROLLOUT + "---\n" + SERVICES)
    assert lines(docs) == [
        "m.yaml#0: internal error while reading this Rollout: RuntimeError: boom"
    ]
    assert len(docs.services) == 2
    assert docs.rollouts == []


# -- references between documents ----------------------------------------------------------


def test_everything_referenced_is_loaded() -> None:
    assert load_text(ALL).problems == ()


def test_missing_template_is_a_warning_unless_the_files_are_complete() -> None:
    text = ROLLOUT + "---\n" + SERVICES
    lenient = load_text(text)
    assert lenient.ok
    assert lines(lenient) == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "AnalysisTemplate 'success-rate' is not in the loaded files; it must exist in the cluster"
    ]
    strict = load_text(text, cluster_may_have_more=False)
    assert not strict.ok
    assert lines(strict, "error") == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "AnalysisTemplate 'success-rate' is not in the loaded files"
    ]
    # the rollout itself is fine: only the reference is missing
    assert len(strict.rollouts) == 1


def test_templates_of_other_namespaces_do_not_count() -> None:
    rollout = ROLLOUT.replace("name: app\n", "name: app\n  namespace: prod\n", 1)
    template = TEMPLATE.replace("name: success-rate\n", "name: success-rate\n  namespace: dev\n", 1)
    docs = load_text("---\n".join([rollout, template, SERVICES]), cluster_may_have_more=False)
    assert lines(docs) == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "AnalysisTemplate 'success-rate' is not in the loaded files"
    ]
    # a template without a namespace goes wherever it is applied
    assert load_text("---\n".join([rollout, TEMPLATE, SERVICES])).problems == ()


def test_cluster_scope_mismatch_gets_a_hint() -> None:
    cluster = TEMPLATE.replace("kind: AnalysisTemplate", "kind: ClusterAnalysisTemplate")
    docs = load_text("---\n".join([ROLLOUT, cluster, SERVICES]), cluster_may_have_more=False)
    assert lines(docs) == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "AnalysisTemplate 'success-rate' is not in the loaded files (a ClusterAnalysisTemplate "
        "of that name is: set clusterScope: true?)"
    ]


def test_args_without_value_must_be_supplied() -> None:
    rollout = ROLLOUT.replace("          args: [{name: service-name, value: app-canary}]\n", "")
    docs = load_text("---\n".join([rollout, TEMPLATE, SERVICES]))
    assert lines(docs) == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.args: missing arg 'service-name': "
        "AnalysisTemplate 'success-rate' declares it without a value"
    ]
    assert len(docs.rollouts) == 1  # read fine; the reference is what fails


def test_args_no_template_declares_are_warnings() -> None:
    rollout = ROLLOUT.replace(
        "{name: service-name, value: app-canary}",
        "{name: service-name, value: a}, {name: servce, value: b}",
    )
    docs = load_text("---\n".join([rollout, TEMPLATE, SERVICES]))
    assert lines(docs) == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.args[1].name: no template declares "
        "arg 'servce' (it is ignored; the templates are 'success-rate')"
    ]
    assert docs.ok


def test_missing_services_are_warnings_even_when_strict() -> None:
    docs = load_text(ROLLOUT + "---\n" + TEMPLATE, cluster_may_have_more=False)
    assert docs.ok
    assert lines(docs, "warning") == [
        "m.yaml#0: spec.strategy.canary.canaryService: Service 'app-canary' is not in the "
        "loaded files; it must exist in the cluster",
        "m.yaml#0: spec.strategy.canary.stableService: Service 'app-stable' is not in the "
        "loaded files; it must exist in the cluster",
    ]


def test_references_are_checked_across_files(tmp_path: Path) -> None:
    write(tmp_path, "rollout.yaml", ROLLOUT)
    write(tmp_path, "analysis/template.yaml", TEMPLATE)
    write(tmp_path, "services.yaml", SERVICES)
    assert load_documents([tmp_path], cluster_may_have_more=False).problems == ()


def test_invalid_rollouts_are_reported_with_their_references() -> None:
    # every problem of a Rollout is reported at once, the missing template too, as long as
    # no step was dropped (their indexes still match the manifest)
    rollout = ROLLOUT.replace("replicas", "x").replace("app-stable", "app-canary")
    docs = load_text(rollout + "---\n" + SERVICES, cluster_may_have_more=False)
    assert docs.rollouts == []
    assert lines(docs) == [
        "m.yaml#0: spec.strategy.canary.stableService: must differ from canaryService",
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.templates[0].templateName: "
        "AnalysisTemplate 'success-rate' is not in the loaded files",
    ]


def test_composed_templates() -> None:
    outer = textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: AnalysisTemplate
        metadata: {name: outer}
        spec:
          templates: [{templateName: success-rate}, {templateName: gone}]
        """)
    rollout = ROLLOUT.replace("templateName: success-rate", "templateName: outer")
    docs = load_text("---\n".join([rollout, outer, SERVICES]), cluster_may_have_more=False)
    assert lines(docs) == [
        "m.yaml#1: spec.templates[0].templateName: AnalysisTemplate 'success-rate' is not in "
        "the loaded files",
        "m.yaml#1: spec.templates[1].templateName: AnalysisTemplate 'gone' is not in the "
        "loaded files",
    ]
    fixed = outer.replace(", {templateName: gone}", "")
    no_args = rollout.replace("          args: [{name: service-name, value: app-canary}]\n", "")
    docs = load_text("---\n".join([no_args, fixed, TEMPLATE, SERVICES]))
    # the composed template's arg must be supplied too
    assert lines(docs) == [
        "m.yaml#0: spec.strategy.canary.steps[1].analysis.args: missing arg 'service-name': "
        "AnalysisTemplate 'success-rate' declares it without a value"
    ]
