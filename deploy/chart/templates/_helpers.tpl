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
{{- end }}
