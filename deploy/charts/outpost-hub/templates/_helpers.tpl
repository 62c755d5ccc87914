{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "outpost-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name. */}}
{{- define "outpost-hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "outpost-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outpost-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "outpost-hub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "outpost-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: hub
app.kubernetes.io/part-of: outpost
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "outpost-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "outpost-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "outpost-hub.claimName" -}}
{{- default (printf "%s-data" (include "outpost-hub.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* The serving certificate's names: the Service's DNS names, then the extra SANs. */}}
{{- define "outpost-hub.sans" -}}
{{- $svc := include "outpost-hub.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $sans := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) }}
{{- join "," (concat $sans .Values.hub.extraSans) }}
{{- end }}
