import { describe, expect, it } from 'vitest';
import { CHART_DIR, HELM, VAP_API, requireTool, runHelm, templateArgs } from '../../scripts/helm.ts';
import { at, find, isHook, render, type K8sObject } from './chart.ts';

requireTool(HELM);

/** The values platform teams look for first, each with where it must land. */
const ds = (objects: K8sObject[]) => find(objects, 'DaemonSet');
const pod = (objects: K8sObject[]) => at(ds(objects), 'spec', 'template', 'spec') as Record<string, unknown>;
const agent = (objects: K8sObject[]) => at(pod(objects), 'containers', 0) as Record<string, unknown>;

describe('image registry and pull secrets', () => {
  it.each([
    ['no global registry', {}, { repository: 'ghcr.io/imds-labeler/imds-labeler' }, 'ghcr.io/imds-labeler/imds-labeler:0.1.0'],
    ['global registry replaces the host', { imageRegistry: 'mirror.example.com' }, {}, 'mirror.example.com/imds-labeler/imds-labeler:0.1.0'],
    ['a registry with a port and path', { imageRegistry: 'registry.local:5000/cache/' }, {}, 'registry.local:5000/cache/imds-labeler/imds-labeler:0.1.0'],
    ['a repository without a host gets one', { imageRegistry: 'acr.azurecr.io' }, { repository: 'team/imds-labeler' }, 'acr.azurecr.io/team/imds-labeler:0.1.0'],
    ['localhost is a host', { imageRegistry: 'acr.azurecr.io' }, { repository: 'localhost/imds-labeler' }, 'acr.azurecr.io/imds-labeler:0.1.0'],
    ['with a digest', { imageRegistry: 'm.example.com' }, { tag: '2.0.0', digest: `sha256:${'b'.repeat(64)}` }, `m.example.com/imds-labeler/imds-labeler:2.0.0@sha256:${'b'.repeat(64)}`],
  ])('%s', (_name, global, image, expected) => {
    const objects = render({ global, image });
    expect(agent(objects).image).toBe(expected);
    // The cleanup Job runs the same image.
    const job = objects.find((o) => o.kind === 'Job' && isHook(o));
    expect(at(job, 'spec', 'template', 'spec', 'containers', 0, 'image')).toBe(expected);
  });

  it.each([
    ['none', {}, [], undefined],
    ['chart only', {}, [{ name: 'a' }], [{ name: 'a' }]],
    ['global only, as names', { imagePullSecrets: ['g1', 'g2'] }, [], [{ name: 'g1' }, { name: 'g2' }]],
    ['both, duplicates once', { imagePullSecrets: [{ name: 'a' }, 'g'] }, [{ name: 'a' }], [{ name: 'a' }, { name: 'g' }]],
  ])('imagePullSecrets: %s', (_name, global, chart, expected) => {
    expect(pod(render({ global, imagePullSecrets: chart })).imagePullSecrets).toEqual(expected);
  });

  it('accepts other charts\' global keys', () => {
    expect(() => render({ global: { storageClass: 'x', imageRegistry: '' } })).not.toThrow();
  });
});

describe('agent arguments, volumes and pod settings', () => {
  it('appends extraArgs after the chart\'s arguments', () => {
    expect(agent(render({ extraArgs: ['--log-level', 'debug', '--poll-jitter=0.1'] })).args).toEqual([
      'agent',
      '--config',
      '/etc/imds-labeler/config.json',
      '--log-level',
      'debug',
      '--poll-jitter=0.1',
    ]);
  });

  it('adds extraVolumes and extraVolumeMounts after the chart\'s own', () => {
    const objects = render({
      extraVolumes: [{ name: 'ca', configMap: { name: 'corp-ca' } }],
      extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/ssl/corp', readOnly: true }],
    });
    expect((pod(objects).volumes as { name: string }[]).map((v) => v.name)).toEqual(['config', 'tmp', 'ca']);
    expect((agent(objects).volumeMounts as { name: string; mountPath: string }[]).map((v) => v.mountPath)).toEqual(['/etc/imds-labeler', '/tmp', '/etc/ssl/corp']);
  });

  it.each([
    [true, '', 'ClusterFirstWithHostNet'],
    [false, '', 'ClusterFirst'],
    [true, 'Default', 'Default'],
    [false, 'ClusterFirstWithHostNet', 'ClusterFirstWithHostNet'],
  ])('hostNetwork %s, dnsPolicy "%s": %s', (hostNetwork, dnsPolicy, expected) => {
    expect(pod(render({ hostNetwork, dnsPolicy })).dnsPolicy).toBe(expected);
  });

  it.each([[10], [0], [3]])('revisionHistoryLimit %i', (n) => {
    expect(at(ds(render({ revisionHistoryLimit: n })), 'spec', 'revisionHistoryLimit')).toBe(n);
  });

  it.each([
    ['an unknown dnsPolicy', { dnsPolicy: 'Sometimes' }],
    ['a negative revisionHistoryLimit', { revisionHistoryLimit: -1 }],
    ['a relative mount path', { extraVolumeMounts: [{ name: 'x', mountPath: 'etc' }] }],
    ['a bad namespaceOverride', { namespaceOverride: 'Not_A_Namespace' }],
    ['a string for extraArgs', { extraArgs: '--log-level debug' }],
  ])('refuses %s', (_name, values) => {
    const r = runHelm(templateArgs(), values);
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain('values don\'t meet the specifications of the schema');
  });
});

describe('namespaceOverride', () => {
  const objects = render(
    { namespaceOverride: 'kube-system', metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, dashboard: { enabled: true } }, networkPolicy: { enabled: true } },
    { apiVersions: [VAP_API] },
  );
  const namespaced = objects.filter((o) => o.metadata.namespace !== undefined && !isHook(o));

  it('puts every namespaced object of the agent there', () => {
    expect(namespaced.length).toBeGreaterThan(5);
    for (const o of namespaced) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('kube-system');
  });

  it('binds and admits the ServiceAccount in that namespace, and monitors it there', () => {
    const binding = objects.find((o) => o.kind === 'ClusterRoleBinding' && !isHook(o));
    expect(at(binding, 'subjects', 0, 'namespace')).toBe('kube-system');
    expect(JSON.stringify(find(objects, 'ValidatingAdmissionPolicy'))).toContain('system:serviceaccount:kube-system:');
    expect(at(find(objects, 'ServiceMonitor'), 'spec', 'namespaceSelector', 'matchNames')).toEqual(['kube-system']);
  });
});

describe('offline renders say what they leave out', () => {
  const renderText = (values: Record<string, unknown>, options: { apiVersions?: string[]; noHooks?: boolean } = {}) => {
    const r = runHelm(templateArgs(options), values);
    expect(r.ok, r.stderr).toBe(true);
    return r.stdout;
  };
  const POLICY_WARNING = 'WARNING: the ValidatingAdmissionPolicy is NOT in this output';
  const HOOK_NOTE = 'NOTE for `helm template | kubectl apply`';

  it.each([
    ['no API known', {}, {}, true],
    ['API given', {}, { apiVersions: [VAP_API] }, false],
    ['forced', { admissionPolicy: { force: true } }, {}, false],
    ['policy off', { admissionPolicy: { enabled: false } }, {}, false],
  ])('policy warning: %s', (_name, values, options, warns) => {
    const text = renderText(values, options);
    expect(text.includes(POLICY_WARNING)).toBe(warns);
    expect(text.includes('kind: ValidatingAdmissionPolicy\n')).toBe(!warns && (values as { admissionPolicy?: { enabled?: boolean } }).admissionPolicy?.enabled !== false);
  });

  it.each([
    ['cleanup on', {}, true],
    ['cleanup off', { cleanup: { enabled: false } }, false],
  ])('hook note: %s', (_name, values, notes) => {
    const text = renderText(values);
    expect(text.includes(HOOK_NOTE)).toBe(notes);
    expect(text.includes('helm.sh/hook: post-delete')).toBe(notes);
  });

  it('the warnings are comments only: no object comes from them', () => {
    const text = renderText({});
    const docs = text.split(/^---\n/m).filter((d) => d.includes('offline-render.yaml'));
    expect(docs).toHaveLength(1);
    expect(docs[0]!.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))).toEqual([]);
    // Helm itself installs the chart with them (a client-side dry run parses every manifest).
    const install = runHelm(['install', 'x', CHART_DIR, '--dry-run=client', '--namespace', 'imds-labeler']);
    expect(install.ok, install.stderr).toBe(true);
  });
});
