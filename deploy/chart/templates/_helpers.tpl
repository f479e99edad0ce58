{{/* Names, labels and checks shared by the templates. The RBAC rules themselves are
     generated into _rules.tpl from progressive._deploy (python -m progressive._deploy). */}}

{{- define "progressive.labels" -}}
app.kubernetes.io/name: progressive-controller
app.kubernetes.io/part-of: progressive
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "progressive.selector" -}}
app.kubernetes.io/name: progressive-controller
{{- end }}

{{- define "progressive.subjects" -}}
subjects:
  - kind: ServiceAccount
    name: progressive-controller
    namespace: {{ .Release.Namespace }}
{{- end }}

{{/* Whether analyses may read Secrets in every namespace reconciled: ["*"]. */}}
{{- define "progressive.allSecrets" -}}
{{- if eq (toJson .Values.rbac.analysisSecrets) "[\"*\"]" }}true{{ end }}
{{- end }}

{{/* metrics.address as a string ("" when unset; --set metrics.address=0 is a number). */}}
{{- define "progressive.metricsAddressValue" -}}
{{- if not (kindIs "invalid" .Values.metrics.address) }}{{ toString .Values.metrics.address }}{{ end }}
{{- end }}

{{/* The controller's --metrics-address (progressive._deploy.InstallOptions.metrics_listen). */}}
{{- define "progressive.metricsAddress" -}}
{{- $address := include "progressive.metricsAddressValue" . }}
{{- if $address }}{{ $address }}
{{- else if .Values.metrics.secure }}0.0.0.0:8443
{{- else }}127.0.0.1:8090
{{- end }}
{{- end }}

{{/* The same checks as progressive._deploy.InstallOptions, with the same messages. */}}
{{- define "progressive.validate" -}}
{{- $r := .Values.rbac }}
{{- if and (gt (len $r.analysisSecrets) 1) (has "*" $r.analysisSecrets) }}
{{- fail (printf "rbac.analysisSecrets: \"*\" stands alone, got %s" (toJson $r.analysisSecrets)) }}
{{- end }}
{{- if has .Release.Namespace $r.namespaces }}
{{- fail (printf "rbac.namespaces: not the controller's own namespace %s" .Release.Namespace) }}
{{- end }}
{{- if and $r.namespaces (not (include "progressive.allSecrets" .)) }}
{{- range $r.analysisSecrets }}
{{- if not (has . $r.namespaces) }}
{{- fail (printf "rbac.analysisSecrets: %s is not among the namespaces reconciled" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if lt (int .Values.replicas) 1 }}
{{- fail "replicas: at least 1" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas: more than one needs leaderElection.enabled" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor (not .Values.metrics.secure) }}
{{- fail "metrics.serviceMonitor: needs metrics.secure (nothing else is scrapable)" }}
{{- end }}
{{- $address := include "progressive.metricsAddressValue" . }}
{{- if not (or (eq $address "") (eq $address "0")) }}
{{- $port := regexFind "[0-9]+$" $address | default "0" | int }}
{{- if or (not (regexMatch "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$" $address)) (lt $port 1) (gt $port 65535) }}
{{- fail (printf "metrics.address: expected HOST:PORT or \"0\" (none), got %q" $address) }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.secure (eq $address "0") }}
{{- fail "metrics.secure: needs a metrics address, not \"0\"" }}
{{- end }}
{{- end }}
