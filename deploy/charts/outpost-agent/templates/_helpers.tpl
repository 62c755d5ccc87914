{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "outpost-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name. */}}
{{- define "outpost-agent.fullname" -}}
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

{{- define "outpost-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outpost-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "outpost-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "outpost-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: outpost
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "outpost-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "outpost-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Cluster-scoped names carry the namespace (unless it is the same name), so two
installs in different namespaces cannot collide. */}}
{{- define "outpost-agent.clusterRoleName" -}}
{{- $name := include "outpost-agent.fullname" . }}
{{- if eq $name .Release.Namespace }}
{{- $name }}
{{- else }}
{{- printf "%s-%s" $name .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The port of agent.listen (HOST:PORT or :PORT), empty when the listener is off or unset.
The kubelet probes the pod's address: a loopback host, a port 0 (any free port) or a value
without a port cannot be probed and are refused. */}}
{{- define "outpost-agent.listenPort" -}}
{{- $listen := .Values.agent.listen | default "" | toString }}
{{- if and $listen (ne $listen "off") }}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:.]+\\]|[^:\\[\\]]*):[0-9]{1,5}$" $listen) }}
{{- fail (printf "agent.listen must be HOST:PORT or :PORT (every address of the pod), or off; got %q" $listen) }}
{{- end }}
{{- $host := regexReplaceAll ":[0-9]+$" $listen "" }}
{{- if or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "[::1]") }}
{{- fail (printf "agent.listen %q is loopback: the kubelet could not probe it; use :PORT (or off)" $listen) }}
{{- end }}
{{- $port := regexFind "[0-9]+$" $listen }}
{{- if eq (int $port) 0 }}
{{- fail (printf "agent.listen %q: a port 0 (any free port) cannot be probed" $listen) }}
{{- end }}
{{- $port }}
{{- end }}
{{- end }}
