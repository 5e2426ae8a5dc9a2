import { describe, expect, it } from 'vitest';
import { CHART_DIR, HELM, VAP_API, requireTool, runHelm, templateArgs } from '../../scripts/helm.ts';
import { at, find, findAll, isHook, render, type K8sObject } from './chart.ts';

/**
 * identity.mode: who the agent is to the API server. auto resolves by the cluster's version
 * (constrained impersonation is beta and on by default from Kubernetes 1.36), and the mode
 * decides the agent's config, its ClusterRole and whether the admission policy is rendered.
 */
requireTool(HELM);

const agentIdentity = (objects: K8sObject[]) => {
  const map = objects.find((o) => o.kind === 'ConfigMap' && !isHook(o) && typeof at(o, 'data', 'config.json') === 'string');
  return (JSON.parse(at(map, 'data', 'config.json') as string) as { kube: { identity: string } }).kube.identity;
};
const agentRules = (objects: K8sObject[]) => at(find(objects, 'ClusterRole', 'imds-labeler'), 'rules');
const policies = (objects: K8sObject[]) => findAll(objects, 'ValidatingAdmissionPolicy').length + findAll(objects, 'ValidatingAdmissionPolicyBinding').length;

const SERVICE_ACCOUNT_RULES = [
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
const NODE_RULES = [
  { apiGroups: ['authentication.k8s.io'], resources: ['nodes'], verbs: ['impersonate:associated-node'] },
  { apiGroups: [''], resources: ['nodes'], verbs: ['impersonate-on:associated-node:list', 'impersonate-on:associated-node:watch', 'impersonate-on:associated-node:patch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['impersonate-on:associated-node:create'] },
];

describe('identity.mode by cluster version', () => {
  // kubeVersion undefined: helm template's own default (v1.35.0 for helm 4), as an offline render sees it.
  const VERSIONS = [undefined, '1.35.0', '1.35.9', '1.36.0', 'v1.36.3-eks-4f4795d', '1.37.2'];
  const MODES = [undefined, 'auto', 'serviceAccount', 'node'] as const;
  const newEnough = (v: string | undefined) => v !== undefined && !v.includes('1.35.');
  const table = VERSIONS.flatMap((kubeVersion) =>
    MODES.map((mode) => ({ kubeVersion: kubeVersion ?? 'helm default', mode: mode ?? 'unset', options: kubeVersion, values: mode ? { identity: { mode } } : {}, expected: mode === 'node' || mode === 'serviceAccount' ? mode : newEnough(kubeVersion) ? 'node' : 'serviceAccount' })),
  );

  it.each(table)('Kubernetes $kubeVersion, mode $mode → $expected', ({ options, values, expected }) => {
    const objects = render(values, { apiVersions: [VAP_API], ...(options ? { kubeVersion: options } : {}) });
    expect(agentIdentity(objects)).toBe(expected);
    expect(agentRules(objects)).toEqual(expected === 'node' ? NODE_RULES : SERVICE_ACCOUNT_RULES);
    // As its node the agent sends nothing the policy would match; as its ServiceAccount the policy is what narrows it.
    expect(policies(objects)).toBe(expected === 'node' ? 0 : 2);
    // The cleanup hook's copy of the config says the same, and its own RBAC does not change.
    const hookMap = objects.find((o) => o.kind === 'ConfigMap' && isHook(o))!;
    expect((JSON.parse(at(hookMap, 'data', 'config.json') as string) as { kube: { identity: string } }).kube.identity).toBe(expected);
    expect(at(find(objects, 'ClusterRole', 'imds-labeler-cleanup'), 'rules')).toEqual(at(find(render({}, { apiVersions: [VAP_API] }), 'ClusterRole', 'imds-labeler-cleanup'), 'rules'));
  });
});

describe('identity node', () => {
  const objects = render({ identity: { mode: 'node' } });

  it('grants no permission of its own: only impersonation of the associated node, and as it only what the agent does', () => {
    const rules = agentRules(objects) as { verbs: string[]; resources: string[] }[];
    for (const rule of rules) for (const verb of rule.verbs) expect(verb, verb).toMatch(/^impersonate(:associated-node|-on:associated-node:(list|watch|patch|create))$/);
    // Never plain impersonation, which would let it act as any user, group or service account.
    expect(rules.flatMap((r) => r.resources)).not.toEqual(expect.arrayContaining(['users']));
    expect(rules.flatMap((r) => r.verbs)).not.toContain('impersonate');
  });

  it('an offline render has no warning about a missing admission policy, which this mode does not use', () => {
    const text = runHelm(templateArgs(), { identity: { mode: 'node' } }).stdout;
    expect(text).not.toContain('WARNING: the ValidatingAdmissionPolicy is NOT in this output');
    expect(runHelm(templateArgs(), {}).stdout).toContain('WARNING: the ValidatingAdmissionPolicy is NOT in this output');
  });

  it('NOTES say the agents act as their nodes and what to do when the cluster refuses', () => {
    const notes = (values: unknown) => runHelm(['install', 'imds-labeler', CHART_DIR, '--namespace', 'imds-labeler', '--dry-run=client'], values).stdout;
    const text = notes({ identity: { mode: 'node' } });
    expect(text).toContain('The agents act as their nodes (identity.mode node: system:node:<name>');
    expect(text).toContain('set\nidentity.mode=serviceAccount');
    expect(text).not.toContain('WARNING: the ValidatingAdmissionPolicy was not installed');
    expect(notes({})).not.toContain('The agents act as their nodes');
  });

  it.each(['Node', 'impersonate', ''])('the values schema refuses mode %j', (mode) => {
    const result = runHelm(templateArgs(), { identity: { mode } });
    expect(result.ok).toBe(false);
    expect(result.stderr).toContain('/identity/mode');
  });

  it.each<[string, Record<string, unknown>, boolean]>([
    ['node mode with scheduled events: refused, naming the fix', { identity: { mode: 'node' }, config: { scheduledEvents: { enabled: true } } }, false],
    ['service-account mode with scheduled events: rendered', { identity: { mode: 'serviceAccount' }, config: { scheduledEvents: { enabled: true } } }, true],
    ['node mode without scheduled events: rendered', { identity: { mode: 'node' } }, true],
  ])('%s', (_name, values, ok) => {
    const result = runHelm(templateArgs(), values);
    expect(result.ok).toBe(ok);
    if (!ok) expect(result.stderr).toContain('config.scheduledEvents.enabled needs identity.mode serviceAccount');
  });
});
