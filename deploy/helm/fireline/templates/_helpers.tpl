{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "fireline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "fireline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fireline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "fireline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "worker"). */}}
{{- define "fireline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fireline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fireline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fireline.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fireline.secretName" -}}
{{- default (printf "%s-secrets" (include "fireline.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "fireline.playbooksConfigMap" -}}
{{- default (printf "%s-playbooks" (include "fireline.fullname" .)) .Values.playbooks.existingConfigMap -}}
{{- end -}}

{{- define "fireline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A ConfigMap key for a playbook file: keys cannot hold '/', so folders become '__'. */}}
{{- define "fireline.playbookKey" -}}
{{- trimPrefix "playbooks/" . | replace "/" "__" -}}
{{- end -}}

{{/* Environment shared by the worker and the receiver. */}}
{{- define "fireline.env" -}}
- name: FIRELINE_HOME
  value: /var/lib/fireline
- name: FIRELINE_PLAYBOOKS_DIR
  value: /etc/fireline/playbooks
- name: FIRELINE_TEMPORAL__ADDRESS
  value: {{ required "temporal.address is required" .Values.temporal.address | quote }}
- name: FIRELINE_TEMPORAL__NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: FIRELINE_TEMPORAL__TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
{{- if kindIs "bool" .Values.temporal.tls }}
- name: FIRELINE_TEMPORAL__TLS
  value: {{ .Values.temporal.tls | quote }}
{{- end }}
{{- with .Values.temporal.serverName }}
- name: FIRELINE_TEMPORAL__TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- with .Values.temporal.webUiUrl }}
- name: FIRELINE_TEMPORAL__WEB_UI_URL
  value: {{ . | quote }}
{{- end }}
{{- if .Values.temporal.mtls.enabled }}
- name: FIRELINE_TEMPORAL__TLS_CERT
  value: /etc/fireline/temporal-tls/tls.crt
- name: FIRELINE_TEMPORAL__TLS_KEY
  value: /etc/fireline/temporal-tls/tls.key
{{- if .Values.temporal.mtls.serverCa }}
- name: FIRELINE_TEMPORAL__TLS_CA
  value: /etc/fireline/temporal-tls/ca.crt
{{- end }}
{{- end }}
{{- if .Values.temporal.apiKey.existingSecret }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.apiKey.existingSecret }}
      key: {{ .Values.temporal.apiKey.key }}
{{- end }}
{{- with .Values.elasticsearch.url }}
- name: FIRELINE_ELASTICSEARCH__URL
  value: {{ . | quote }}
{{- end }}
{{- if .Values.elasticsearch.caSecret }}
- name: FIRELINE_ELASTICSEARCH__CA_FILE
  value: /etc/fireline/elasticsearch-ca/ca.crt
{{- end }}
{{- with .Values.config.approverGroups }}
- name: FIRELINE_APPROVER_GROUPS
  value: {{ toJson . | quote }}
{{- end }}
- name: FIRELINE_OUTPUT_CAP_BYTES
  value: {{ .Values.config.outputCapBytes | int | quote }}
- name: FIRELINE_OBSERVABILITY__LOG_FORMAT
  value: {{ .Values.config.logFormat | quote }}
- name: FIRELINE_OBSERVABILITY__LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- with .Values.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ include "fireline.fullname" . | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes shared by both Deployments. */}}
{{- define "fireline.volumes" -}}
- name: home
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: playbooks
  configMap:
    name: {{ include "fireline.playbooksConfigMap" . }}
    {{- if not .Values.playbooks.existingConfigMap }}
    items:
    {{- range $path, $_ := .Files.Glob "playbooks/**" }}
      - key: {{ include "fireline.playbookKey" $path }}
        path: {{ trimPrefix "playbooks/" $path }}
    {{- end }}
    {{- end }}
{{- if .Values.temporal.mtls.enabled }}
- name: temporal-tls
  secret:
    secretName: {{ required "temporal.mtls.secretName is required with mTLS" .Values.temporal.mtls.secretName }}
    defaultMode: 0440
{{- end }}
{{- with .Values.elasticsearch.caSecret }}
- name: elasticsearch-ca
  secret:
    secretName: {{ . }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "fireline.volumeMounts" -}}
- name: home
  mountPath: /var/lib/fireline
- name: tmp
  mountPath: /tmp
- name: playbooks
  mountPath: /etc/fireline/playbooks
  readOnly: true
{{- if .Values.temporal.mtls.enabled }}
- name: temporal-tls
  mountPath: /etc/fireline/temporal-tls
  readOnly: true
{{- end }}
{{- if .Values.elasticsearch.caSecret }}
- name: elasticsearch-ca
  mountPath: /etc/fireline/elasticsearch-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Pod-level fields shared by both Deployments; call with (dict "root" $ "values" .Values.worker). */}}
{{- define "fireline.podCommon" -}}
serviceAccountName: {{ include "fireline.serviceAccountName" .root }}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds | default 30 | int }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Checksums that roll the pods when the playbooks or the chart's Secret change. */}}
{{- define "fireline.checksums" -}}
checksum/playbooks: {{ include (print .Template.BasePath "/configmap-playbooks.yaml") . | sha256sum }}
checksum/secrets: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}
