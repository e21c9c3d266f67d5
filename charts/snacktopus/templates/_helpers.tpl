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

{{/* The Secrets holding the Dapr API token and the app API token (key "token"): yours
     when dapr.*ExistingSecret names one, else the chart's. */}}
{{- define "snacktopus.apiTokenSecret" -}}
{{- .Values.dapr.apiTokenExistingSecret | default (printf "%s-dapr-api-token" (include "snacktopus.fullname" .)) -}}
{{- end -}}
{{- define "snacktopus.appTokenSecret" -}}
{{- .Values.dapr.appTokenExistingSecret | default (printf "%s-app-api-token" (include "snacktopus.fullname" .)) -}}
{{- end -}}

{{/* The Secret and key holding the Redis password. */}}
{{- define "snacktopus.redisSecret" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-redis" (include "snacktopus.fullname" .)) -}}
{{- end -}}
{{- define "snacktopus.redisSecretKey" -}}
{{- if .Values.redis.auth.existingSecret }}{{ .Values.redis.auth.existingSecretKey }}{{ else }}password{{ end -}}
{{- end -}}

{{/* Labels of the app pods (both apps), and of the release's own clients of their APIs
     (the Locust Job, the helm test Pod). */}}
{{- define "snacktopus.appPods" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: app
{{- end -}}
{{- define "snacktopus.clientPods" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
snacktopus.dev/client: "true"
{{- end -}}

{{/* Settings that cannot work together, refused when rendering. */}}
{{- define "snacktopus.validate" -}}
{{- $r := .Values.redis -}}
{{- if and (not $r.enabled) (not $r.external.host) -}}
{{- fail "redis.enabled=false needs redis.external.host (host:port of your Redis)" -}}
{{- end -}}
{{- if and (not $r.enabled) $r.auth.enabled (not $r.auth.existingSecret) -}}
{{- fail "an external Redis with redis.auth.enabled needs redis.auth.existingSecret (a Secret holding its password); or set redis.auth.enabled=false" -}}
{{- end -}}
{{- $slots := int (.Values.agent.llmSlots | default .Values.ollama.numParallel) -}}
{{- if gt (int .Values.agent.llmBackgroundSlots) $slots -}}
{{- fail (printf "agent.llmBackgroundSlots (%v) must not exceed the model slots (%v: agent.llmSlots, or ollama.numParallel when 0)" .Values.agent.llmBackgroundSlots $slots) -}}
{{- end -}}
{{- $s := .Values.shutdown -}}
{{- if lt (int $s.terminationGracePeriodSeconds) (add $s.sidecarBlockSeconds $s.sidecarGracefulSeconds | int) -}}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%v) must be at least shutdown.sidecarBlockSeconds + shutdown.sidecarGracefulSeconds (%v): the kubelet would kill the sidecar mid-shutdown" $s.terminationGracePeriodSeconds (add $s.sidecarBlockSeconds $s.sidecarGracefulSeconds)) -}}
{{- end -}}
{{- if ge (int $s.preStopSleepSeconds) (int $s.sidecarBlockSeconds) -}}
{{- fail "shutdown.preStopSleepSeconds must be below shutdown.sidecarBlockSeconds: the app must get its stop signal while its sidecar still answers" -}}
{{- end -}}
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
dapr.io/api-token-secret: {{ include "snacktopus.apiTokenSecret" .root }}
dapr.io/app-token-secret: {{ include "snacktopus.appTokenSecret" .root }}
dapr.io/block-shutdown-duration: {{ printf "%ds" (int .root.Values.shutdown.sidecarBlockSeconds) | quote }}
dapr.io/graceful-shutdown-seconds: {{ .root.Values.shutdown.sidecarGracefulSeconds | quote }}
dapr.io/sidecar-listen-addresses: {{ $d.listenAddresses | quote }}
{{- end -}}

{{/* In-cluster addresses of the stack's own services (the Services of redis.yaml and
     zipkin.yaml), for the components and the apps alike. */}}
{{- define "snacktopus.redisAddress" -}}
{{- if .Values.redis.enabled }}redis:6379{{ else }}{{ .Values.redis.external.host }}{{ end -}}
{{- end -}}
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
