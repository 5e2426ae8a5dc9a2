import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../../src/config/schema.ts';
import { CHART_DIR, HELM, VAP_API, requireTool, runHelm, templateArgs } from '../../scripts/helm.ts';
import { MATRIX, at, caseByName, find, findAll, isHook, render, renderCase, type K8sObject } from './chart.ts';

requireTool(HELM);

const podSpec = (o: K8sObject) => at(o, 'spec', 'template', 'spec') as Record<string, unknown>;
const container = (o: K8sObject) => (at(o, 'spec', 'template', 'spec', 'containers', 0) ?? {}) as Record<string, unknown>;
const agentConfig = (objects: K8sObject[]) => {
  // The agent's, not the cleanup hook's copy (whose equality the cleanup tests check).
  const maps = objects.filter((o) => o.kind === 'ConfigMap' && !isHook(o) && typeof at(o, 'data', 'config.json') === 'string');
  expect(maps).toHaveLength(1);
  // JSON.parse, not a YAML parser: the agent reads JSON without loading one (docs/performance.md).
  return JSON.parse(at(maps[0], 'data', 'config.json') as string) as Record<string, unknown>;
};
const daemonSet = (objects: K8sObject[]) => find(objects, 'DaemonSet');
const kinds = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

describe('helm lint --strict', () => {
  it.each(MATRIX.map((c) => [c.name, c] as const))('passes: %s', (_name, c) => {
    const result = runHelm(['lint', '--strict', CHART_DIR, '--namespace', 'imds-labeler'], c.values);
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
    expect(result.stdout).toContain('0 chart(s) failed');
  });
});

describe('helm template with default values', () => {
  const objects = render();
  const ds = daemonSet(objects);
  const spec = podSpec(ds);
  const agent = container(ds);

  it('renders the agent, its RBAC and the cleanup hook, and no optional extras', () => {
    expect(kinds(objects)).toEqual([
      'ClusterRole/imds-labeler',
      'ClusterRole/imds-labeler-cleanup',
      'ClusterRoleBinding/imds-labeler',
      'ClusterRoleBinding/imds-labeler-cleanup',
      'ConfigMap/imds-labeler',
      'ConfigMap/imds-labeler-cleanup',
      'DaemonSet/imds-labeler',
      'Job/imds-labeler-cleanup',
      'ServiceAccount/imds-labeler',
      'ServiceAccount/imds-labeler-cleanup',
    ]);
  });

  it('puts namespaced objects in the release namespace', () => {
    for (const o of objects.filter((x) => !x.kind.startsWith('Cluster'))) expect(o.metadata.namespace).toBe('imds-labeler');
  });

  it('runs on the host network with the matching DNS policy', () => {
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
  });

  it('tolerates every taint (its own start-up and maintenance taints whatever the value says) and is system-node-critical', () => {
    expect(spec.tolerations).toEqual([
      { key: 'imds-labeler.io/unlabelled', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'imds-labeler.io/maintenance', operator: 'Exists', effect: 'NoSchedule' },
      { operator: 'Exists' },
    ]);
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
  });

  it('rolls 10% of the nodes at a time', () => {
    expect(at(ds, 'spec', 'updateStrategy')).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } });
  });

  it('passes NODE_NAME from the downward API and runs the agent with the mounted config', () => {
    expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(agent.args).toEqual(['agent', '--config', '/etc/imds-labeler/config.json']);
    expect(agent.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/imds-labeler', readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'config', configMap: { name: 'imds-labeler' } });
    expect(agent.image).toBe('ghcr.io/imds-labeler/imds-labeler:0.1.0');
  });

  it('probes /healthz and /readyz on the metrics port', () => {
    expect(agent.ports).toEqual([{ name: 'metrics', containerPort: 9721, protocol: 'TCP' }]);
    expect(at(agent, 'livenessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'metrics' });
    expect(at(agent, 'readinessProbe', 'httpGet')).toEqual({ path: '/readyz', port: 'metrics' });
  });

  it('asks for the measured footprint', () => {
    expect(agent.resources).toEqual({ requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '128Mi' } });
  });

  it('mounts the token (the agent needs it) and stops quickly', () => {
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(spec.serviceAccountName).toBe('imds-labeler');
    expect(spec.terminationGracePeriodSeconds).toBeLessThanOrEqual(15);
    // The ServiceAccount itself mounts nothing into pods that do not ask.
    expect(find(objects, 'ServiceAccount', 'imds-labeler').automountServiceAccountToken).toBe(false);
  });

  it('writes a config.json that the agent accepts, equal to the agent defaults', () => {
    const rendered = configSchema.parse(agentConfig(objects));
    expect(rendered).toEqual(configSchema.parse({}));
  });

  it('pod labels select the pods and nothing else changes them', () => {
    expect(at(ds, 'spec', 'selector', 'matchLabels')).toEqual({ 'app.kubernetes.io/name': 'imds-labeler', 'app.kubernetes.io/instance': 'imds-labeler' });
    expect(at(ds, 'spec', 'template', 'metadata', 'labels')).toEqual(at(ds, 'spec', 'selector', 'matchLabels'));
  });
});

describe('checksum/config', () => {
  const checksum = (values: unknown) => at(daemonSet(render(values)), 'spec', 'template', 'metadata', 'annotations', 'checksum/config') as string;
  const base = checksum({});

  it('is a sha256 of the rendered ConfigMap, the same on every render', () => {
    expect(base).toMatch(/^[a-f0-9]{64}$/);
    expect(checksum({})).toBe(base);
  });
  it('changes with the configuration, so the pods roll', () => {
    expect(checksum({ config: { poll: { period: '2m' } } })).not.toBe(base);
  });
  it('does not change with values outside the ConfigMap', () => {
    expect(checksum({ podLabels: { a: 'b' }, resources: { requests: { cpu: '50m' } } })).toBe(base);
  });
});

describe('helm template across the values matrix', () => {
  const rendered = new Map(MATRIX.map((c) => [c.name, renderCase(c)] as const));
  const get = (name: string) => rendered.get(caseByName(name).name)!;

  it('renders every case into objects with names, all carrying the chart labels', () => {
    for (const [name, objects] of rendered) {
      expect(objects.length, name).toBeGreaterThan(0);
      for (const o of objects) {
        expect(o.metadata.name, `${name}: ${o.kind}`).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
        expect(o.metadata.labels?.['app.kubernetes.io/part-of'], `${name}: ${o.kind}`).toBe('imds-labeler');
      }
    }
  });

  it('every config.json is JSON and is accepted by the agent\'s own config schema', () => {
    for (const [name, objects] of rendered) expect(() => configSchema.parse(agentConfig(objects)), name).not.toThrow();
  });

  it('hostNetwork off: ClusterFirst DNS', () => {
    const spec = podSpec(daemonSet(get('hostNetwork off')));
    expect(spec.hostNetwork).toBe(false);
    expect(spec.dnsPolicy).toBe('ClusterFirst');
  });

  it('the admission policy renders when the API is served, when forced, and never when off', () => {
    const policies = (name: string) => kinds(get(name)).filter((k) => k.startsWith('ValidatingAdmissionPolicy'));
    expect(policies('defaults, no cluster APIs')).toEqual([]);
    expect(policies('defaults on a 1.30+ cluster')).toEqual(['ValidatingAdmissionPolicy/imds-labeler', 'ValidatingAdmissionPolicyBinding/imds-labeler']);
    expect(policies('admission policy forced')).toHaveLength(2);
    expect(policies('admission policy off')).toEqual([]);
    const binding = find(get('admission policy forced'), 'ValidatingAdmissionPolicyBinding');
    expect(at(binding, 'spec', 'validationActions')).toEqual(['Warn', 'Audit']);
  });

  it('the policy matches the agent\'s ServiceAccount on node UPDATEs and fails closed', () => {
    const policy = find(get('defaults on a 1.30+ cluster'), 'ValidatingAdmissionPolicy');
    expect(at(policy, 'spec', 'failurePolicy')).toBe('Fail');
    expect(at(policy, 'spec', 'matchConstraints', 'resourceRules')).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes', 'nodes/status'] }]);
    expect(at(policy, 'spec', 'matchConditions', 0, 'expression')).toBe("request.userInfo.username == 'system:serviceaccount:imds-labeler:imds-labeler'");
    const binding = find(get('defaults on a 1.30+ cluster'), 'ValidatingAdmissionPolicyBinding');
    expect(at(binding, 'spec')).toEqual({ policyName: 'imds-labeler', validationActions: ['Deny'] });
    const existing = find(get('existing service account'), 'ValidatingAdmissionPolicy');
    expect(at(existing, 'spec', 'matchConditions', 0, 'expression')).toContain("'system:serviceaccount:imds-labeler:preexisting'");
  });

  it('service monitor: a headless Service and a ServiceMonitor that select the agent pods', () => {
    const objects = get('service monitor, rule and dashboard on');
    const ds = daemonSet(objects);
    const svc = find(objects, 'Service');
    expect(at(svc, 'spec', 'clusterIP')).toBe('None');
    expect(at(svc, 'spec', 'selector')).toEqual(at(ds, 'spec', 'selector', 'matchLabels'));
    expect(at(svc, 'spec', 'ports')).toEqual([{ name: 'metrics', port: 9721, targetPort: 'metrics', protocol: 'TCP' }]);
    const sm = find(objects, 'ServiceMonitor');
    expect(sm.metadata.namespace).toBe('monitoring');
    expect(sm.metadata.labels?.release).toBe('kube-prometheus');
    expect(at(sm, 'spec', 'namespaceSelector')).toEqual({ matchNames: ['imds-labeler'] });
    const selector = at(sm, 'spec', 'selector', 'matchLabels') as Record<string, string>;
    for (const [k, v] of Object.entries(selector)) expect(svc.metadata.labels?.[k]).toBe(v);
    expect(at(sm, 'spec', 'sampleLimit')).toBe(500);
    expect(at(sm, 'spec', 'endpoints', 0)).toMatchObject({ port: 'metrics', path: '/metrics', interval: '1m', scrapeTimeout: '10s' });
    // No metrics.clusterLabel: the node relabeling only, no `cluster` target label.
    expect(at(sm, 'spec', 'endpoints', 0, 'relabelings')).toEqual([{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' }]);
  });

  it('prometheus rule: the groups of files/alerts.yaml with the release\'s selector in place of the plain file\'s', () => {
    const rule = find(get('service monitor, rule and dashboard on'), 'PrometheusRule');
    const file = readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8');
    const releaseSelector = 'job="imds-labeler", namespace="imds-labeler"';
    const expected = parseYaml(file.replaceAll('job=~".*imds-labeler.*"', releaseSelector)) as { groups: unknown[] };
    expect(at(rule, 'spec')).toEqual({ groups: expected.groups });
    expect(expected.groups.length).toBeGreaterThan(0);
    expect(at(rule, 'spec', 'groups', 0, 'rules', 0, 'expr')).toBe(`up{${releaseSelector}} == 0`);
  });

  it('dashboard: a ConfigMap for the Grafana sidecar holding files/dashboard-fleet.json', () => {
    const cm = find(get('service monitor, rule and dashboard on'), 'ConfigMap', 'imds-labeler-dashboard');
    expect(cm.metadata.namespace).toBe('grafana');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Nodes' });
    const data = at(cm, 'data') as Record<string, string>;
    const file = JSON.parse(readFileSync(join(CHART_DIR, 'files', 'dashboard-fleet.json'), 'utf8')) as unknown;
    expect(JSON.parse(data['imds-labeler-fleet.json']!)).toEqual(file);
  });

  it('pod monitor: selects the agent pods by their labels, with extra relabelings after the node and cluster ones', () => {
    const objects = get('pod monitor on');
    const pm = find(objects, 'PodMonitor');
    expect(at(pm, 'spec', 'selector', 'matchLabels')).toEqual(at(daemonSet(objects), 'spec', 'selector', 'matchLabels'));
    expect(at(pm, 'spec', 'podMetricsEndpoints', 0, 'port')).toBe('metrics');
    expect(at(pm, 'spec', 'podMetricsEndpoints', 0, 'relabelings')).toEqual([
      { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' },
      { targetLabel: 'cluster', replacement: 'prod-westeurope', action: 'replace' },
      { action: 'labeldrop', regex: 'pod' },
    ]);
    expect(findAll(objects, 'ServiceMonitor')).toEqual([]);
    expect(findAll(objects, 'Service')).toHaveLength(1);
  });

  it('network policy: egress only to IMDS, the API server and DNS', () => {
    const np = find(get('network policy on'), 'NetworkPolicy');
    expect(at(np, 'spec', 'policyTypes')).toEqual(['Ingress', 'Egress']);
    expect(at(np, 'spec', 'egress')).toEqual([
      { to: [{ ipBlock: { cidr: '169.254.169.254/32' } }], ports: [{ port: 80, protocol: 'TCP' }] },
      { to: [{ ipBlock: { cidr: '20.50.1.7/32' } }], ports: [{ port: 443, protocol: 'TCP' }] },
      { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
    ]);
    expect(at(np, 'spec', 'ingress')).toEqual([{ ports: [{ port: 'metrics', protocol: 'TCP' }] }]);
    expect(at(np, 'spec', 'podSelector', 'matchLabels')).toEqual(at(daemonSet(get('network policy on')), 'spec', 'selector', 'matchLabels'));
  });

  it('cleanup off: no hook objects at all', () => {
    expect(get('cleanup off').filter(isHook)).toEqual([]);
  });

  it('custom prefix: the config, the policy and the cleanup Job all use it', () => {
    const objects = get('custom prefix');
    const config = configSchema.parse(agentConfig(objects));
    expect(config.labels).toMatchObject({ prefix: 'azure.example.com', tagPrefix: 'vmtags.example.com' });
    const policy = JSON.stringify(find(objects, 'ValidatingAdmissionPolicy'));
    expect(policy).toContain("['azure.example.com/', 'vmtags.example.com/']");
    expect(policy).not.toContain('imds-labeler.io/');
    expect(at(find(objects, 'Job'), 'spec', 'template', 'spec', 'containers', 0, 'args')).toEqual(['cleanup', '--all-nodes', '--config', '/etc/imds-labeler/config.json']);
    // The hook reads the agent's config, a copy that outlives the release's own ConfigMap.
    expect(at(find(objects, 'ConfigMap', 'imds-labeler-cleanup'), 'data')).toEqual(at(find(objects, 'ConfigMap', 'imds-labeler'), 'data'));
  });

  it('well-known labels: in the config, and allowed by the policy', () => {
    const objects = get('well-known labels on');
    expect(configSchema.parse(agentConfig(objects)).labels).toMatchObject({ wellKnown: true, extras: ['spot', 'security'] });
    expect(JSON.stringify(find(objects, 'ValidatingAdmissionPolicy'))).toContain('topology.kubernetes.io/zone');
    // Without the opt-in the policy names them only to allow taking one back (admission-policy.test.ts runs the CEL).
    expect(JSON.stringify(find(get('defaults on a 1.30+ cluster'), 'ValidatingAdmissionPolicy'))).toContain('&& !(k in variables.newLabels)');
  });

  it('everything set: every value lands where it belongs', () => {
    const objects = get('everything set');
    const ds = find(objects, 'DaemonSet', 'labeler');
    const spec = podSpec(ds);
    const agent = container(ds);
    expect(agent.image).toBe(`registry.example.com/imds-labeler:1.2.3@sha256:${'a'.repeat(64)}`);
    expect(agent.imagePullPolicy).toBe('Always');
    expect(spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(agent.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=96' });
    expect(at(ds, 'spec', 'template', 'metadata', 'labels', 'team')).toBe('platform');
    expect(at(ds, 'spec', 'template', 'metadata', 'annotations', 'example.com/note')).toBe('x');
    for (const o of objects) expect(o.metadata.labels?.['cost-center'], o.kind).toBe('42');
    expect(spec.serviceAccountName).toBe('labeler-sa');
    expect(find(objects, 'ServiceAccount', 'labeler-sa').metadata.annotations).toEqual({ 'azure.workload.identity/client-id': '00000000-0000-0000-0000-000000000000' });
    expect(at(spec, 'affinity', 'nodeAffinity')).toBeDefined();
    expect(spec.priorityClassName).toBeUndefined();
    expect(at(ds, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable')).toBe(1);
    expect(agent.resources).toEqual({ requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '192Mi' } });
    expect(agent.ports).toEqual([{ name: 'metrics', containerPort: 19721, protocol: 'TCP' }]);
    const config = configSchema.parse(agentConfig(objects));
    expect(config).toMatchObject({
      imds: { apiVersion: '2021-02-01', rateLimit: { requestsPerSecond: 1, burst: 1 } },
      poll: { period: 300_000, jitter: 0.5, initialDelay: 10_000 },
      labels: { tags: { include: ['env', 'team-*'], exclude: ['secret*'] } },
      kube: { resyncPeriod: 3_600_000, events: false },
      server: { port: 19721, address: '::' },
      log: { level: 'debug', format: 'pretty' },
      dryRun: true,
    });
  });

  it('existing service account: none created, the DaemonSet and bindings use it', () => {
    const objects = get('existing service account');
    expect(findAll(objects, 'ServiceAccount').filter((o) => !isHook(o))).toEqual([]);
    expect(podSpec(daemonSet(objects)).serviceAccountName).toBe('preexisting');
    expect(at(find(objects, 'ClusterRoleBinding', 'imds-labeler'), 'subjects')).toEqual([{ kind: 'ServiceAccount', name: 'preexisting', namespace: 'imds-labeler' }]);
  });
});

describe('RBAC', () => {
  const objects = render();

  it('the agent may read and patch nodes and record events: exactly that', () => {
    expect(at(find(objects, 'ClusterRole', 'imds-labeler'), 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const binding = find(objects, 'ClusterRoleBinding', 'imds-labeler');
    expect(at(binding, 'roleRef')).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'imds-labeler' });
    expect(at(binding, 'subjects')).toEqual([{ kind: 'ServiceAccount', name: 'imds-labeler', namespace: 'imds-labeler' }]);
  });

  it('scheduled events on: nodes/status patch too, for the condition, and nothing more', () => {
    expect(at(find(render({ config: { scheduledEvents: { enabled: true } } }), 'ClusterRole', 'imds-labeler'), 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
  });

  it('tolerations [] still tolerates the agent\'s own taints', () => {
    expect(podSpec(daemonSet(render({ tolerations: [] }))).tolerations).toEqual([
      { key: 'imds-labeler.io/unlabelled', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'imds-labeler.io/maintenance', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  it('no Role, RoleBinding or other ClusterRole beyond the agent\'s and the cleanup hook\'s', () => {
    expect(findAll(objects, 'Role')).toEqual([]);
    expect(findAll(objects, 'RoleBinding')).toEqual([]);
    expect(findAll(objects, 'ClusterRole').map((o) => o.metadata.name).sort()).toEqual(['imds-labeler', 'imds-labeler-cleanup']);
  });

  it('rbac.create false renders no RBAC for the agent', () => {
    const without = render({ rbac: { create: false } });
    expect(without.filter((o) => o.kind.startsWith('ClusterRole') && !isHook(o))).toEqual([]);
  });
});

describe('cleanup hook', () => {
  const objects = render().filter(isHook);
  const job = find(objects, 'Job');

  it('is a post-delete hook whose ServiceAccount and RBAC come first and all go away on success', () => {
    expect(kinds(objects)).toEqual(['ClusterRole/imds-labeler-cleanup', 'ClusterRoleBinding/imds-labeler-cleanup', 'ConfigMap/imds-labeler-cleanup', 'Job/imds-labeler-cleanup', 'ServiceAccount/imds-labeler-cleanup']);
    for (const o of objects) {
      expect(o.metadata.annotations?.['helm.sh/hook'], o.kind).toBe('post-delete');
      expect(o.metadata.annotations?.['helm.sh/hook-delete-policy'], o.kind).toBe('before-hook-creation,hook-succeeded');
    }
    const weight = (o: K8sObject) => Number(o.metadata.annotations?.['helm.sh/hook-weight']);
    for (const o of objects.filter((x) => x.kind !== 'Job')) expect(weight(o), o.kind).toBeLessThan(weight(job));
  });

  it('may only list and patch nodes', () => {
    expect(at(find(objects, 'ClusterRole'), 'rules')).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['list', 'patch'] }]);
    expect(at(find(objects, 'ClusterRoleBinding'), 'subjects')).toEqual([{ kind: 'ServiceAccount', name: 'imds-labeler-cleanup', namespace: 'imds-labeler' }]);
  });

  it('with scheduled events on, may also patch nodes/status (to remove the maintenance condition)', () => {
    const hook = render({ config: { scheduledEvents: { enabled: true } } }).filter(isHook);
    expect(at(find(hook, 'ClusterRole'), 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'patch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
  });

  it('runs the cleanup subcommand with its own ServiceAccount, bounded in time', () => {
    const spec = podSpec(job);
    expect(spec.serviceAccountName).toBe('imds-labeler-cleanup');
    expect(spec.restartPolicy).toBe('Never');
    expect(container(job).args).toEqual(['cleanup', '--all-nodes', '--config', '/etc/imds-labeler/config.json']);
    expect(at(container(job), 'volumeMounts')).toEqual([{ name: 'config', mountPath: '/etc/imds-labeler', readOnly: true }]);
    expect(spec.volumes).toEqual([{ name: 'config', configMap: { name: 'imds-labeler-cleanup' } }]);
    expect(at(job, 'spec', 'activeDeadlineSeconds')).toBe(300);
    expect(at(job, 'spec', 'backoffLimit')).toBe(3);
  });

  it('its pods are not selected by the DaemonSet or the monitors', () => {
    const labels = at(job, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    const selector = at(daemonSet(render()), 'spec', 'selector', 'matchLabels') as Record<string, string>;
    expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).toBe(false);
  });
});

describe('NOTES.txt', () => {
  // helm install has no --api-versions: a client-side dry run sees no ValidatingAdmissionPolicy
  // API, so admissionPolicy.force stands in for a 1.30+ cluster.
  const notes = (values: Record<string, unknown>, cluster130 = false) => {
    const args = ['install', 'imds-labeler', CHART_DIR, '--namespace', 'imds-labeler', '--dry-run=client'];
    const result = runHelm(args, cluster130 ? { ...values, admissionPolicy: { force: true } } : values);
    expect(result.stderr).toBe('');
    return result.stdout.slice(result.stdout.indexOf('NOTES:'));
  };

  it('shows how to check the labels and how to spread a workload, with the configured prefix', () => {
    const text = notes({ config: { labels: { prefix: 'azure.example.com' } } }, true);
    expect(text).toContain('kubectl get nodes -L azure.example.com/fault-domain,azure.example.com/update-domain');
    expect(text).toContain('kubectl get nodes -l tags.azure.example.com/env=prod');
    expect(text).toContain('topologyKey: azure.example.com/fault-domain');
    expect(text).toContain('topologyKey: azure.example.com/update-domain');
    expect(text).not.toContain('WARNING');
  });

  it('warns when the admission policy could not be installed', () => {
    expect(notes({})).toContain('WARNING: the ValidatingAdmissionPolicy was not installed');
    expect(notes({ admissionPolicy: { enabled: false } })).not.toContain('WARNING');
  });

  it('says when the agent only logs (dry run) and when uninstall leaves the labels', () => {
    expect(notes({ config: { dryRun: true } }, true)).toContain('DRY-RUN');
    expect(notes({ cleanup: { enabled: false } }, true)).toContain('imds-labeler cleanup --all-nodes --label-prefix imds-labeler.io --tag-prefix tags.imds-labeler.io');
  });
});

describe('refusals at render time', () => {
  const fails = (values: unknown, options: { apiVersions?: string[]; kubeVersion?: string } = {}) => {
    const result = runHelm(templateArgs(options), values);
    expect(result.ok).toBe(false);
    return result.stderr;
  };

  it('both a ServiceMonitor and a PodMonitor', () => {
    expect(fails({ metrics: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } } })).toContain('choose one');
  });
  it('serviceAccount.create false without a name', () => {
    expect(fails({ serviceAccount: { create: false } })).toContain('serviceAccount.name must name an existing ServiceAccount');
  });
  it('a cluster older than 1.30', () => {
    expect(fails({}, { kubeVersion: '1.29.9', apiVersions: [VAP_API] })).toMatch(/kubeVersion|incompatible/i);
  });
});
