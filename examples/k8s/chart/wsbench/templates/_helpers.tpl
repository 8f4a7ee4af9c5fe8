{{/* Names and labels. */}}
{{- define "wsbench.name" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- end }}

{{- define "wsbench.labels" -}}
app.kubernetes.io/name: wsbench
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "wsbench.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end }}

{{- define "wsbench.claim" -}}
{{- if .Values.results.existingClaim }}{{ .Values.results.existingClaim }}{{ else }}{{ include "wsbench.name" . }}-results{{ end }}
{{- end }}

{{/* The target URL: the chart's own server, or .Values.target. */}}
{{- define "wsbench.target" -}}
{{- if .Values.serve.enabled }}ws://{{ include "wsbench.name" . }}-serve:{{ .Values.serve.port }}
{{- else if .Values.target }}{{ .Values.target }}
{{- else }}{{ fail "set target (the ws:// or wss:// URL of the server under test) or serve.enabled=true" }}
{{- end }}
{{- end }}

{{/* VUs each runner holds at the peak (the last runners may hold one less). */}}
{{- define "wsbench.vusPerPod" -}}
{{- $n := int .Values.runners }}{{ div (add (int .Values.vus) (sub $n 1)) $n }}
{{- end }}

{{/* Memory request in MiB: base + VUs per pod x KiB per VU. */}}
{{- define "wsbench.memMiB" -}}
{{- $kib := mul (int (include "wsbench.vusPerPod" .)) (int .Values.resources.kibPerVU) }}
{{- add (int .Values.resources.baseMiB) (div (add $kib 1023) 1024) }}
{{- end }}

{{/* Source addresses a runner needs for its connections. */}}
{{- define "wsbench.sourcesNeeded" -}}
{{- $ports := int .Values.portsPerSource }}{{ div (add (int (include "wsbench.vusPerPod" .)) (sub $ports 1)) $ports }}
{{- end }}
