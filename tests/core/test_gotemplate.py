"""Go's text/template, the subset notification templates use.

The expected texts were produced by Go 1.2x's ``text/template`` on the same template
and data (JSON numbers as Go decodes them), except where the module docstring says we
are more lenient (a field of an explicit null, int/float comparisons)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from progressive.core import _gotemplate
from progressive.core._gotemplate import GoTemplate
from progressive.errors import RenderError, TemplateError


def render(source: str, data: Any = None) -> str:
    return GoTemplate("t", source).render(data if data is not None else {})


GO_AGREES = [
    ("{{.a.b.c}}", {}, "<no value>"),
    ('{{index .a "x"}}', {"a": {}}, "<no value>"),
    ("{{if .a.b}}y{{else}}n{{end}}", {}, "n"),
    ("{{eq .a nil}}", {}, "true"),
    ("{{range $i, $e := .l}}{{$i}}={{$e}},{{end}}", {"l": ["a", "b"]}, "0=a,1=b,"),
    ("{{range $k, $v := .m}}{{$k}}={{$v}},{{end}}", {"m": {"b": 1, "a": 2}}, "a=2,b=1,"),
    ("{{range 3}}{{.}}{{end}}", {}, "012"),
    ('{{- " a " -}}  b  {{- 1 }}', {}, " a b1"),
    ("x {{/* c */}} y {{- /* c */ -}} z", {}, "x  yz"),
    (
        "{{ \"a\\tb\" }} {{ 'x' }} {{ 0x1F }} {{ 1e3 }} {{ -2 }} {{ 1.50 }} {{ true }}",
        {},
        "a\tb 120 31 1000 -2 1.5 true",
    ),
    ("{{ (index .l 0).a }}", {"l": [{"a": "z"}]}, "z"),
    ("{{ $.a }} {{ $ }}", {"a": 1}, "1 map[a:1]"),
    ("{{ .a | len }}", {"a": "xyz"}, "3"),
    ("{{ len .a }}", {"a": "héllo"}, "6"),  # bytes, as Go counts
    ("{{ $x := .a }}{{ $x.b }}", {"a": {"b": 5}}, "5"),
    ("{{ with $v := .a }}{{ $v }}{{ end }}", {"a": 3}, "3"),
    ("{{ if .a }}1{{ else if .b }}2{{ else }}3{{ end }}", {"b": 1}, "2"),
    ("{{ with .a }}1{{ else with .b }}{{.}}{{ end }}", {"b": 7}, "7"),
    ("{{ range .l }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}", {"l": [1, 2, 3]}, "1"),
    (
        "{{ range .l }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
        {"l": [1, 2, 3]},
        "13",
    ),
    ("{{ range .l }}x{{ else }}empty{{ end }}", {}, "empty"),
    ("{{ .a.b }}", {"a": {"b": []}}, "[]"),
    ('{{ print nil }} {{ printf "%v %s" nil nil }}', {}, "<nil> <nil> %!s(<nil>)"),
    (
        '{{ html "<a href=\'x\'>&\\"" }} {{ js "a\'b<\\n" }} {{ urlquery "a b&c" }}',
        {},
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34; a\\'b\\u003C\\u000A a+b%26c",
    ),
    (
        '{{ printf "%5.2f|%-4d|%x|%t|%05d|%+d|%s|%q|%8s|" 3.14159 7 255 true 42 5 3 "a" "r" }}',
        {},
        ' 3.14|7   |ff|true|00042|+5|%!s(int=3)|"a"|       r|',
    ),
    ('{{ 3 | printf "%d-%v" 4 }}', {}, "4-3"),
    ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", {}, "2"),
    ('{{ print 1 2 "a" "b" 3 }}', {}, "1 2ab3"),
    (
        "{{.m}} {{.l}}",
        {"m": {"b": None, "a": [1.5, "x"]}, "l": [None, True]},
        "map[a:[1.5 x] b:<nil>] [<nil> true]",
    ),
    ("{{ .f }} {{ .g }} {{ .h }}", {"f": 1e6, "g": 123456.0, "h": 0.00001}, "1e+06 123456 1e-05"),
    ('{{ if and 1 0 }}t{{ else }}f{{ end }} {{ or 0 "" "z" }}', {}, "f z"),
    ("{{ not 0 }} {{ not .x }}", {"x": [1]}, "true false"),
]


@pytest.mark.parametrize(("source", "data", "expected"), GO_AGREES)
def test_renders_what_go_renders(source: str, data: Any, expected: str) -> None:
    assert render(source, data) == expected


SPRIG = [
    (
        "{{ add .rollout.status.currentStepIndex 1 }}",
        {"rollout": {"status": {"currentStepIndex": 2}}},
        "3",
    ),
    (
        '{{ add "2" 1.9 }} {{ sub 5 7 }} {{ mul 2 3 4 }} {{ div -7 2 }} {{ mod -7 2 }}',
        {},
        "3 -2 24 -3 -1",
    ),
    ("{{ add1 4 }} {{ max 1 9 3 }} {{ min 4 2 }}", {}, "5 9 2"),
    (
        '{{ upper "ab" }} {{ lower "AB" }} {{ title "hello world" }} {{ trim "  x " }}',
        {},
        "AB ab Hello World x",
    ),
    (
        '{{ trimPrefix "v" "v1.2" }} {{ trimSuffix ".0" "1.0" }} {{ replace "a" "b" "banana" }}',
        {},
        "1.2 1 bbnbnb",
    ),
    (
        '{{ contains "an" "banana" }} {{ hasPrefix "ba" "banana" }} {{ hasSuffix "x" "banana" }}',
        {},
        "true true false",
    ),
    (
        '{{ quote "a\\"b" 1 }} {{ squote "x" }} {{ cat "a" 1 nil "b" }}',
        {},
        '"a\\"b" "1" \'x\' a 1 b',
    ),
    (
        '{{ repeat 3 "ab" }} {{ substr 1 3 "hello" }} {{ trunc 3 "hello" }} {{ trunc -2 "hello" }}',
        {},
        "ababab el hel lo",
    ),
    ('{{ abbrev 5 "hello world" }} {{ nospace "a b  c" }}', {}, "he... abc"),
    ('{{ indent 2 "a\\nb" }}|{{ nindent 1 "x" }}', {}, "  a\n  b|\n x"),
    ('{{ join ", " .l }} {{ splitList "," "a,b" }}', {"l": ["x", 1]}, "x, 1 [a b]"),
    (
        '{{ default "d" .missing }} {{ default "d" "given" }} {{ empty "" }}'
        ' {{ coalesce 0 "" "c" }}',
        {},
        "d given true c",
    ),
    ('{{ ternary "y" "n" true }} {{ ternary "y" "n" 0 }}', {}, "y n"),
    (
        "{{ toJson .m }} {{ .m | toJson }}",
        {"m": {"a": [1, "x"], "b": None}},
        '{"a": [1, "x"], "b": null} {"a": [1, "x"], "b": null}',
    ),
    ('{{ b64enc "hi" }} {{ b64dec "aGk=" }} {{ sha256sum "" | trunc 8 }}', {}, "aGk= hi e3b0c442"),
    ('{{ int "12" }} {{ float64 "1.5" }} {{ atoi "x" }}', {}, "12 1.5 0"),
    (
        '{{ $d := dict "a" 1 "b" 2 }}{{ get $d "b" }} {{ hasKey $d "c" }} {{ keys $d }}',
        {},
        "2 false [a b]",
    ),
    (
        "{{ first .l }} {{ last .l }} {{ first .e }} {{ has 2 .l }}",
        {"l": [1, 2, 3], "e": []},
        "1 3 <no value> true",
    ),
    ('{{ list 1 "a" }} {{ slice .l 1 }} {{ index .l 2 }}', {"l": [1, 2, 3]}, "[1 a] [2 3] 3"),
]


@pytest.mark.parametrize(("source", "data", "expected"), SPRIG)
def test_sprig_functions(source: str, data: Any, expected: str) -> None:
    assert render(source, data) == expected


RENDER_ERRORS = [
    ("{{.a.b}}", {"a": "s"}, "can't evaluate field b in type string"),
    ("{{index .a 5}}", {"a": [1]}, "error calling index: index out of range: 5"),
    ("{{len .a}}", {}, "error calling len: len of type nil"),
    ("{{.a 1}}", {"a": 1.0}, "a is not a method but has arguments"),
    ("{{1 2}}", {}, "can't give argument to non-function 1"),
    ("{{range .l}}{{.}}{{end}}", {"l": "str"}, "range can't iterate over str"),
    ("{{ nil }}", {}, "nil is not a command"),
    ("{{ and }}", {}, "wrong number of args for and"),
    ('{{ lt 1 "a" }}', {}, "incompatible types for comparison: int and string"),
    ("{{ div 1 0 }}", {}, "integer divide by zero"),
    ("{{ now }}", {}, "now is not supported: templates are rendered without a clock"),
    ('{{ env "HOME" }}', {}, "env is not supported"),
    ("{{ call .f }}", {"f": "x"}, "call is not supported"),
]


@pytest.mark.parametrize(("source", "data", "message"), RENDER_ERRORS)
def test_render_errors_name_the_template_line_and_column(
    source: str, data: Any, message: str
) -> None:
    with pytest.raises(RenderError, match="^template t:1:") as failed:
        render(source, data)
    assert message in str(failed.value)


PARSE_ERRORS = [
    ("{{ $y }}", "undefined variable '$y'"),
    ("{{ if .a }}", "unexpected EOF: {{if}} has no {{end}}"),
    ("{{ end }}", "unexpected {{end}}"),
    ("{{ foo 1 }}", "function 'foo' not defined"),
    ("{{ range .l }}{{ end }}{{ break }}", "{{break}} outside {{range}}"),
    ('{{ template "x" }}', "{{template}} is not supported"),
    ('{{ define "x" }}{{ end }}', "{{define}} is not supported"),
    ('{{ block "x" . }}{{ end }}', "{{block}} is not supported"),
    ("{{ .a", "unclosed action"),
    ('{{ "abc }}', "unterminated quoted string"),
    ("{{/* x }}", "unclosed comment"),
    ("{{ (1 }}", "unclosed left paren"),
    ("{{}}", "missing value for command"),
    ("{{ .a | }}", "missing value for command"),
    ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "expected {{end}} for {{if}}"),
    ("{{ 09 }}", "bad number syntax"),
    ("{{ ; }}", "unexpected ';' in action"),
]


@pytest.mark.parametrize(("source", "message"), PARSE_ERRORS)
def test_parse_errors_name_the_template_line_and_column(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match="^template t:1:") as failed:
        GoTemplate("t", source)
    assert message in str(failed.value)


def test_line_and_column_of_an_error_in_a_later_line() -> None:
    with pytest.raises(RenderError, match=r"^template t:3:6: .*can't evaluate field x"):
        render("a\nb\nc {{ .s.x }}", {"s": 1})


def argo_notifications_install() -> dict[str, Any]:
    """Argo Rollouts' notifications-install.yaml, from the Go module cache."""
    from progressive._cluster._gomod import module_download
    from progressive._cluster._published_crds import CrdSources

    folder = module_download("github.com/argoproj/argo-rollouts", CrdSources().argo_rollouts).dir
    document: dict[str, Any] = yaml.safe_load(
        (folder / "manifests" / "notifications-install.yaml").read_text()
    )
    return document


@pytest.mark.kube  # needs Go, for the module cache
def test_argo_rollouts_default_templates_render_json_attachments() -> None:
    """Every template of Argo's notifications-install.yaml renders, and its Slack
    attachments are valid JSON (what the Slack service sends)."""
    manifest = argo_notifications_install()
    rollout = {
        "metadata": {"name": "demo"},
        "spec": {
            "replicas": 5,
            "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
            "template": {
                "spec": {
                    "containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]
                }
            },
        },
        "status": {"currentStepIndex": 1, "updatedReplicas": 2},
    }
    rendered = 0
    for key, text in manifest["data"].items():
        if not key.startswith("template."):
            continue
        body = yaml.safe_load(text)
        for field in ("message",):
            out = GoTemplate(key, body[field]).render({"rollout": rollout})
            assert "demo" in out and "<no value>" not in out
        attachments = GoTemplate(key, body["slack"]["attachments"]).render({"rollout": rollout})
        fields = json.loads(attachments)[0]["fields"]
        assert {"title": "a", "value": "x:1", "short": True} in fields
        assert {"title": "b", "value": "y:2", "short": True} in fields
        assert fields[0]["value"] == "Canary"
        rendered += 1
    assert rendered >= 9
    step = yaml.safe_load(manifest["data"]["template.rollout-step-completed"])
    assert GoTemplate("s", step["message"]).render({"rollout": rollout}) == (
        "Rollout demo step number 2/2 has been completed."
    )


# -- bounds ----------------------------------------------------------------------------------


def test_output_is_bounded() -> None:
    with pytest.raises(RenderError, match="output longer than 1000 characters"):
        GoTemplate("t", "{{ range 2000 }}x{{ end }}").render({}, max_output=1000)
    with pytest.raises(RenderError, match="a value longer than"):
        GoTemplate("t", '{{ repeat 100000000 "ab" }}').render({}, max_output=1000)


def test_steps_are_bounded() -> None:
    start = time.perf_counter()
    with pytest.raises(RenderError, match=f"more than {_gotemplate.MAX_STEPS} steps"):
        render("{{ range 1000000000 }}{{ range 1000000000 }}{{ end }}{{ end }}")
    assert time.perf_counter() - start < 5


def test_source_nodes_and_depth_are_bounded() -> None:
    with pytest.raises(TemplateError, match="longer than"):
        GoTemplate("t", "x" * (_gotemplate.MAX_SOURCE + 1))
    with pytest.raises(TemplateError, match="too large"):
        GoTemplate("t", "{{.}}" * (_gotemplate.MAX_NODES // 2 + 1))
    with pytest.raises(TemplateError, match="nested too deeply"):
        GoTemplate("t", "{{ if 1 }}" * 60 + "{{ end }}" * 60)
    with pytest.raises(TemplateError, match="nested too deeply"):
        GoTemplate("t", "{{ " + "(" * 60 + "1" + ")" * 60 + " }}")


def test_data_names_are_what_the_template_reads_from_its_data() -> None:
    template = GoTemplate(
        "t",
        "{{ .rollout.a }}{{ range .rollout.l }}{{ .x }}{{ $.time }}{{ end }}"
        "{{ with .y }}{{ .z }}{{ end }}",
    )
    assert template.data_names() == {"rollout", "time", "y"}


def test_no_python_is_reachable_from_a_template() -> None:
    """Fields are keys of mappings and nothing else: no attribute of a Python object."""
    for source in ("{{ .__class__ }}", '{{ index . "__class__" }}', "{{ .a.__len__ }}"):
        assert render(source, {"a": {}}) == "<no value>"
    with pytest.raises(RenderError, match="can't evaluate field __class__ in type string"):
        render("{{ .a.__class__ }}", {"a": "x"})
    with pytest.raises(TemplateError, match="function '__import__' not defined"):
        GoTemplate("t", '{{ __import__ "os" }}')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}.$|()\"' -abc12=:ifendrangewith", max_size=60))
def test_arbitrary_text_parses_or_fails_cleanly(source: str) -> None:
    try:
        template = GoTemplate("t", source)
    except TemplateError:
        return
    try:
        template.render({"a": {"b": [1, "x"]}, "c": "s"})
    except RenderError:
        pass
