{{/* Whether the hub keeps its state in PostgreSQL (database.urlSecret.name set). */}}
{{- define "outpost-hub.shared" -}}
{{- if .Values.database.urlSecret.name }}true{{ end }}
{{- end }}

{{/* The Secret with the key-encryption key and the first admin token (shared state only). */}}
{{- define "outpost-hub.keysSecret" -}}
{{- default (printf "%s-keys" (include "outpost-hub.fullname" .)) .Values.database.keysSecret }}
{{- end }}

{{/* The replica count, refused above 1 without a database. */}}
{{- define "outpost-hub.replicas" -}}
{{- $n := int .Values.replicas }}
{{- if lt $n 1 }}{{ fail "replicas must be 1 or more" }}{{ end }}
{{- if and (gt $n 1) (not (include "outpost-hub.shared" .)) }}
{{- fail "replicas > 1 needs database.urlSecret.name: replicas share one PostgreSQL database (on SQLite the hub runs alone)" }}
{{- end }}
{{- $n }}
{{- end }}
