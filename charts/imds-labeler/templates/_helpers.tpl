{{/* Chart name, at most 63 characters. */}}
{{- define "imds-labeler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>"; at most 63 characters.
*/}}
{{- define "imds-labeler.fullname" -}}
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

{{/* Name and version of the chart, for the helm.sh/chart label. */}}
{{- define "imds-labeler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the agent's pods; never change them after a release (selectors are immutable). */}}
{{- define "imds-labeler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "imds-labeler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "imds-labeler.labels" -}}
helm.sh/chart: {{ include "imds-labeler.chart" . }}
{{ include "imds-labeler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: imds-labeler
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Name of the agent's ServiceAccount. */}}
{{- define "imds-labeler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "imds-labeler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository:tag, or repository:tag@digest when a digest is set. With
global.imageRegistry the repository's registry host (a first path segment with a dot, a colon,
or localhost) is replaced by it; a repository without one gets it put in front.
*/}}
{{- define "imds-labeler.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- $repository := .Values.image.repository }}
{{- with (.Values.global | default dict).imageRegistry }}
{{- $parts := splitList "/" $repository }}
{{- $first := first $parts }}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq "localhost" $first)) }}
{{- $parts = rest $parts }}
{{- end }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) (join "/" $parts) }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" $repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{/* imagePullSecrets then global.imagePullSecrets, as a YAML list of {name}; names may be given bare. */}}
{{- define "imds-labeler.imagePullSecrets" -}}
{{- $names := list }}
{{- range concat (.Values.imagePullSecrets | default list) ((.Values.global | default dict).imagePullSecrets | default list) }}
{{- $name := . }}
{{- if not (kindIs "string" .) }}
{{- $name = get . "name" }}
{{- end }}
{{- if not (has $name $names) }}
{{- $names = append $names $name }}
{{- end }}
{{- end }}
{{- range $names }}
- name: {{ . }}
{{- end }}
{{- end }}

{{/* The label prefix and the tag prefix ("tags." + prefix when empty). */}}
{{- define "imds-labeler.prefix" -}}
{{- .Values.config.labels.prefix | default "imds-labeler.io" }}
{{- end }}
{{- define "imds-labeler.tagPrefix" -}}
{{- .Values.config.labels.tagPrefix | default (printf "tags.%s" (include "imds-labeler.prefix" .)) }}
{{- end }}

{{/*
The agent's taints and node condition, derived from the prefix as src/keys/keys.ts nodeKeys
derives them: the start-up taint nodes may register with, the optional maintenance taint, and
the condition type written through nodes/status.
*/}}
{{- define "imds-labeler.startupTaint" -}}
{{- printf "%s/unlabelled" (include "imds-labeler.prefix" .) }}
{{- end }}
{{- define "imds-labeler.maintenanceTaint" -}}
{{- printf "%s/maintenance" (include "imds-labeler.prefix" .) }}
{{- end }}
{{- define "imds-labeler.maintenanceCondition" -}}
{{- printf "%s/MaintenanceScheduled" (include "imds-labeler.prefix" .) }}
{{- end }}

{{/* The well-known keys the agent writes only when config.labels.wellKnown is on. */}}
{{- define "imds-labeler.wellKnownKeys" -}}
["topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type"]
{{- end }}

{{/*
Who the agent is to the API server: identity.mode, with auto resolved by the cluster's version
(constrained impersonation is beta and on by default from Kubernetes 1.36).
*/}}
{{- define "imds-labeler.identity" -}}
{{- $mode := .Values.identity.mode | default "auto" }}
{{- if ne $mode "auto" }}
{{- $mode }}
{{- else if semverCompare ">=1.36.0-0" .Capabilities.KubeVersion.Version }}
{{- "node" }}
{{- else }}
{{- "serviceAccount" }}
{{- end }}
{{- end }}

{{/*
Whether the ValidatingAdmissionPolicy is wanted: enabled, and the agent acting as its
ServiceAccount (as its node, its requests are the node's: the policy would match none of them,
and could not tell them from the kubelet's).
*/}}
{{- define "imds-labeler.admissionPolicy.wanted" -}}
{{- if and .Values.admissionPolicy.enabled (eq (include "imds-labeler.identity" .) "serviceAccount") -}}
true
{{- end }}
{{- end }}

{{/* Whether to render the ValidatingAdmissionPolicy: wanted, and the API is served or forced. */}}
{{- define "imds-labeler.admissionPolicy.render" -}}
{{- if and (include "imds-labeler.admissionPolicy.wanted" .) (or .Values.admissionPolicy.force (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy")) -}}
true
{{- end }}
{{- end }}

{{/* The agent's config file, config.json, from .Values.config: JSON, so the agent reads it without loading a YAML parser. */}}
{{- define "imds-labeler.config" -}}
{{- $c := .Values.config }}
{{- $labels := dict "prefix" (include "imds-labeler.prefix" .) "tagPrefix" (include "imds-labeler.tagPrefix" .) "tags" $c.labels.tags "extras" $c.labels.extras "wellKnown" $c.labels.wellKnown }}
{{- $kube := merge (dict "identity" (include "imds-labeler.identity" .)) (omit $c.kube "identity") }}
{{- if and (eq $kube.identity "node") $c.scheduledEvents.enabled }}
{{- fail "config.scheduledEvents.enabled needs identity.mode serviceAccount: acting as its node (identity.mode node, or auto on Kubernetes 1.36+), the agent may not write nodes/status or taints" }}
{{- end }}
{{- $config := dict "imds" $c.imds "poll" $c.poll "labels" $labels "kube" $kube "scheduledEvents" $c.scheduledEvents "server" $c.server "log" $c.log "dryRun" $c.dryRun }}
{{- toPrettyJson $config }}
{{- end }}

{{/* Pod security context and container security context, shared by the agent and the cleanup Job. */}}
{{- define "imds-labeler.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}
{{- define "imds-labeler.securityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/*
One scrape endpoint of a ServiceMonitor or PodMonitor; the argument is
(dict "monitor" <values> "clusterLabel" <metrics.clusterLabel>).
*/}}
{{- define "imds-labeler.monitorEndpoint" -}}
port: metrics
path: /metrics
interval: {{ .monitor.interval }}
scrapeTimeout: {{ .monitor.scrapeTimeout }}
relabelings:
  # The node the agent runs on, so alerts and dashboards can name it.
  - sourceLabels: [__meta_kubernetes_pod_node_name]
    targetLabel: node
    action: replace
  {{- with .clusterLabel }}
  # The cluster, for a Prometheus that holds several (the dashboard's cluster variable).
  - targetLabel: cluster
    replacement: {{ . | quote }}
    action: replace
  {{- end }}
  {{- with .monitor.relabelings }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .monitor.metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Namespace of the release's namespaced objects: namespaceOverride, else the release namespace. */}}
{{- define "imds-labeler.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
PromQL matchers of the agent's series in the alerts: metrics.prometheusRule.selector, else what
the chart's monitors produce (jobLabel app.kubernetes.io/name, so job is the chart name or
nameOverride) in the namespace of the pods.
*/}}
{{- define "imds-labeler.alertSelector" -}}
{{- .Values.metrics.prometheusRule.selector | default (printf "job=\"%s\", namespace=\"%s\"" (include "imds-labeler.name" .) (include "imds-labeler.namespace" .)) }}
{{- end }}

{{/* Bytes of a memory quantity (128Mi, 1G, 134217728), as scripts/observability/chartDefaults.ts reads them. */}}
{{- define "imds-labeler.quantityBytes" -}}
{{- if kindIs "string" . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $unit := trimPrefix $number . }}
{{- $factor := get (dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776) $unit }}
{{- if or (not $number) (not $factor) }}
{{- fail (printf "%q is not a memory quantity such as 128Mi" .) }}
{{- end }}
{{- mulf $number $factor | floor | int64 }}
{{- else }}
{{- . | int64 }}
{{- end }}
{{- end }}

{{/*
Threshold of ImdsLabelerHighMemory in bytes: thresholds.memoryBytes, else memoryLimitRatio of
resources.limits.memory; empty when neither is known (the alert is then left out).
*/}}
{{- define "imds-labeler.memoryThresholdBytes" -}}
{{- $t := .Values.metrics.prometheusRule.thresholds }}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) }}
{{- if gt (float64 (default 0 $t.memoryBytes)) 0.0 }}
{{- $t.memoryBytes | int64 }}
{{- else if $limit }}
{{- mulf $t.memoryLimitRatio (include "imds-labeler.quantityBytes" $limit) | floor | int64 }}
{{- end }}
{{- end }}
