import { parseAllDocuments } from 'yaml';
import { VAP_API, helmTemplate, type TemplateOptions } from '../../scripts/helm.ts';

/** Shared by the chart tests: rendering, parsing and the matrix of values they all walk. */

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

export function render(values?: unknown, options: Omit<TemplateOptions, 'values'> = {}): K8sObject[] {
  return parseManifests(helmTemplate({ ...options, values }));
}

export function findAll(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The one object of a kind (and name); throws when there is none or more than one. */
export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

export const isHook = (o: K8sObject) => o.metadata.annotations?.['helm.sh/hook'] !== undefined;

/** Reads a nested field by path without casts at every step. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

export interface Case {
  name: string;
  values: Record<string, unknown>;
  apiVersions?: string[];
}

/** Values combinations every structural test renders. */
export const MATRIX: Case[] = [
  { name: 'defaults, no cluster APIs', values: {} },
  { name: 'defaults on a 1.30+ cluster', values: {}, apiVersions: [VAP_API] },
  { name: 'hostNetwork off', values: { hostNetwork: false }, apiVersions: [VAP_API] },
  { name: 'admission policy off', values: { admissionPolicy: { enabled: false } }, apiVersions: [VAP_API] },
  { name: 'admission policy forced', values: { admissionPolicy: { force: true, validationActions: ['Warn', 'Audit'] } } },
  {
    name: 'service monitor, rule and dashboard on',
    values: {
      metrics: {
        serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus' }, interval: '1m', sampleLimit: 500, namespace: 'monitoring' },
        prometheusRule: { enabled: true, labels: { release: 'kube-prometheus' } },
        dashboard: { enabled: true, namespace: 'grafana', annotations: { grafana_folder: 'Nodes' } },
      },
    },
    apiVersions: [VAP_API],
  },
  {
    name: 'pod monitor on',
    values: { metrics: { clusterLabel: 'prod-westeurope', podMonitor: { enabled: true, relabelings: [{ action: 'labeldrop', regex: 'pod' }] }, service: { enabled: true } } },
    apiVersions: [VAP_API],
  },
  {
    name: 'network policy on',
    values: { hostNetwork: false, networkPolicy: { enabled: true, apiServerCIDRs: ['20.50.1.7/32'], apiServerPorts: [443] } },
    apiVersions: [VAP_API],
  },
  { name: 'cleanup off', values: { cleanup: { enabled: false } }, apiVersions: [VAP_API] },
  {
    name: 'custom prefix',
    values: { config: { labels: { prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' } } },
    apiVersions: [VAP_API],
  },
  { name: 'well-known labels on', values: { config: { labels: { wellKnown: true, extras: ['spot', 'security'] } } }, apiVersions: [VAP_API] },
  {
    name: 'everything set',
    values: {
      fullnameOverride: 'labeler',
      image: { repository: 'registry.example.com/imds-labeler', tag: '1.2.3', digest: `sha256:${'a'.repeat(64)}`, pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'regcred' }],
      extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=96' }],
      podLabels: { team: 'platform' },
      podAnnotations: { 'example.com/note': 'x' },
      commonLabels: { 'cost-center': '42' },
      serviceAccount: { name: 'labeler-sa', annotations: { 'azure.workload.identity/client-id': '00000000-0000-0000-0000-000000000000' } },
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'type', operator: 'NotIn', values: ['virtual-kubelet'] }] }] } } },
      priorityClassName: '',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      resources: { requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '192Mi' } },
      config: {
        imds: { endpoint: 'http://169.254.169.254', apiVersion: '2021-02-01', rateLimit: { requestsPerSecond: 1, burst: 1 } },
        poll: { period: '5m', jitter: 0.5, initialDelay: '10s' },
        labels: { tags: { include: ['env', 'team-*'], exclude: ['secret*'] } },
        kube: { resyncPeriod: '1h', events: false },
        server: { port: 19721, address: '::' },
        log: { level: 'debug', format: 'pretty' },
        dryRun: true,
      },
    },
    apiVersions: [VAP_API],
  },
  { name: 'existing service account', values: { serviceAccount: { create: false, name: 'preexisting' } }, apiVersions: [VAP_API] },
  { name: 'identity node', values: { identity: { mode: 'node' } }, apiVersions: [VAP_API] },
];

export const caseByName = (name: string): Case => {
  const c = MATRIX.find((m) => m.name === name);
  if (!c) throw new Error(`no matrix case ${name}`);
  return c;
};

export const renderCase = (c: Case) => render(c.values, c.apiVersions ? { apiVersions: c.apiVersions } : {});
