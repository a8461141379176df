{{/* Chart name. */}}
{{- define "perimeter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "perimeter.fullname" -}}
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

{{- define "perimeter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "perimeter.labels" -}}
helm.sh/chart: {{ include "perimeter.chart" . }}
{{ include "perimeter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: perimeter
{{- end }}

{{/* Labels that select the operator pods. */}}
{{- define "perimeter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "perimeter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "perimeter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "perimeter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "perimeter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* RBAC rules shared by the ClusterRole and the Roles (templates/rbac.yaml says why each). */}}
{{- define "perimeter.rbac.clusterKinds" -}}
# Cluster-scoped kinds: read and watch, write the status only.
- apiGroups: ["perimeter.dev"]
  resources: [clustercloudproviders, controlassessments]
  verbs: [get, list, watch]
- apiGroups: ["perimeter.dev"]
  resources: [clustercloudproviders/status, controlassessments/status]
  verbs: [get, patch]
{{- end }}

{{- define "perimeter.rbac.namespacedKinds" -}}
# CloudProviders and AddressSets: read and watch, write the status only.
- apiGroups: ["perimeter.dev"]
  resources: [cloudproviders, addresssets]
  verbs: [get, list, watch]
# Policies: patch adds and removes the finalizer (metadata.finalizers).
- apiGroups: ["perimeter.dev"]
  resources: [firewallpolicies, monitoringpolicies]
  verbs: [get, list, watch, patch]
- apiGroups: ["perimeter.dev"]
  resources: [cloudproviders/status, addresssets/status, firewallpolicies/status, monitoringpolicies/status]
  verbs: [get, patch]
{{- end }}

{{- define "perimeter.rbac.secrets" -}}
# Credential Secrets: read-only; the watch selects perimeter.dev/credential=true. Values never
# appear in logs, status, Events or metrics.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
{{- end }}

{{- define "perimeter.rbac.events" -}}
# Events (Drifted, Enforced, ProviderUnreadable, ...): create, and patch a repeated one.
- apiGroups: ["events.k8s.io"]
  resources: [events]
  verbs: [create, patch]
{{- end }}
