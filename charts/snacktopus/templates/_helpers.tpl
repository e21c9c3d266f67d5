{{/* Common labels; the instance label comes with "snacktopus.selector" on pods. */}}
{{- define "snacktopus.labels" -}}
app.kubernetes.io/part-of: snacktopus
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "snacktopus.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end -}}

{{- define "snacktopus.image" -}}
{{- $reg := .root.Values.global.imageRegistry -}}
{{- if $reg }}{{ $reg }}/{{ end }}{{ .image.repository }}:{{ .image.tag }}
{{- end -}}

{{- define "snacktopus.fullname" -}}
{{ .Release.Name }}-snacktopus
{{- end -}}

{{/* A token kept across upgrades: the given value, else the one already in the Secret,
     else a new random one. */}}
{{- define "snacktopus.token" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if .value -}}{{ .value }}
{{- else if and $existing (index $existing.data .key) -}}{{ index $existing.data .key | b64dec }}
{{- else -}}{{ randAlphaNum 32 }}{{- end -}}
{{- end -}}

{{/* The Dapr sidecar annotations of an app pod. */}}
{{- define "snacktopus.daprAnnotations" -}}
{{- $d := .root.Values.dapr -}}
dapr.io/enabled: "true"
dapr.io/app-id: {{ .app.appId | quote }}
dapr.io/app-port: {{ .app.port | quote }}
dapr.io/app-protocol: "http"
dapr.io/config: "snacktopus"
dapr.io/log-level: {{ $d.logLevel | quote }}
dapr.io/log-as-json: "true"
dapr.io/enable-metrics: {{ $d.enableMetrics | quote }}
dapr.io/metrics-port: {{ $d.metricsPort | quote }}
dapr.io/sidecar-cpu-request: {{ $d.sidecar.cpuRequest | quote }}
dapr.io/sidecar-cpu-limit: {{ $d.sidecar.cpuLimit | quote }}
dapr.io/sidecar-memory-request: {{ $d.sidecar.memoryRequest | quote }}
dapr.io/sidecar-memory-limit: {{ $d.sidecar.memoryLimit | quote }}
dapr.io/api-token-secret: {{ include "snacktopus.fullname" .root }}-dapr-api-token
dapr.io/app-token-secret: {{ include "snacktopus.fullname" .root }}-app-api-token
dapr.io/graceful-shutdown-seconds: "20"
dapr.io/sidecar-listen-addresses: {{ $d.listenAddresses | quote }}
{{- end -}}

{{/* In-cluster addresses of the stack's own services (the Services of redis.yaml and
     zipkin.yaml), for the components and the apps alike. */}}
{{- define "snacktopus.redisAddress" -}}redis:6379{{- end -}}
{{- define "snacktopus.zipkinSpans" -}}http://zipkin:9411/api/v2/spans{{- end -}}

{{/* The spec of an HTTP Service on port "http" of the selected pods: ClusterIP, or a
     NodePort when .nodePort is set. */}}
{{- define "snacktopus.httpServiceSpec" -}}
{{- if .nodePort -}}
type: NodePort
{{ end -}}
selector: {{- include "snacktopus.selector" .sel | nindent 2 }}
ports:
  - name: http
    port: {{ .port }}
    targetPort: http
    {{- with .nodePort }}
    nodePort: {{ . }}
    {{- end }}
{{- end -}}
