import { Environment } from '@marcbachmann/cel-js';
import { describe, expect, it } from 'vitest';
import { VAP_API } from '../../scripts/helm.ts';
import { at, find, render, type K8sObject } from './chart.ts';

/**
 * The ValidatingAdmissionPolicy's CEL, taken from the rendered chart and run against a table of
 * admission requests with @marcbachmann/cel-js, the way the API server runs it: matchConditions
 * first (any false: the policy does not apply), then the variables in order, then every
 * validation (any false or any error: denied, failurePolicy Fail), with messageExpression for
 * the message.
 *
 * The expressions keep to what Kubernetes CEL and cel-js both support: has(), size(), `in` on
 * maps, string startsWith, the all/exists/filter/map macros over lists and over map keys, list `+`,
 * map/list equality, list join (Kubernetes' strings extension), and dyn() (the spec and status
 * read as maps, which test/cluster/agent.test.ts proves the API server accepts). The test below refuses any
 * other function, so the policy cannot come to depend on something only one side has. One
 * difference remains: the API server type-checks `object` against the Node schema, while here it
 * is a dynamic map; the expressions only use Node fields that exist (metadata.labels,
 * metadata.annotations, metadata.finalizers, metadata.ownerReferences, spec.taints,
 * status.conditions; the rest of spec and status through dyn()).
 */

const FUNCTIONS = new Set(['has', 'size', 'startsWith', 'exists', 'all', 'filter', 'map', 'join', 'dyn']);

interface Policy {
  matchConditions: { name: string; expression: string }[];
  variables: { name: string; expression: string }[];
  validations: { expression: string; message?: string; messageExpression?: string; reason?: string }[];
}

const env = new Environment({ unlistedVariablesAreDyn: true });

function policyOf(values: Record<string, unknown> = {}): Policy {
  const objects = render(values, { apiVersions: [VAP_API] });
  return at(find(objects, 'ValidatingAdmissionPolicy'), 'spec') as Policy;
}

const POLICIES = {
  default: policyOf(),
  wellKnown: policyOf({ config: { labels: { wellKnown: true } } }),
  maintenanceTaint: policyOf({ config: { scheduledEvents: { enabled: true, taint: true } } }),
  customPrefix: policyOf({ config: { labels: { prefix: 'azure.example.com' } } }),
};

type Verdict = { outcome: 'not-matched' } | { outcome: 'allowed' } | { outcome: 'denied'; messages: string[] };

interface Admission {
  object: unknown;
  oldObject: unknown;
  request: unknown;
}

function admit(policy: Policy, input: Admission): Verdict {
  const context: Record<string, unknown> = { ...input };
  for (const condition of policy.matchConditions) {
    let matched: unknown;
    try {
      matched = env.evaluate(condition.expression, context);
    } catch (error) {
      return { outcome: 'denied', messages: [`matchCondition ${condition.name} failed: ${(error as Error).message}`] };
    }
    if (matched === false) return { outcome: 'not-matched' };
  }
  const variables: Record<string, unknown> = {};
  context.variables = variables;
  for (const variable of policy.variables) variables[variable.name] = env.evaluate(variable.expression, context);
  const messages: string[] = [];
  for (const validation of policy.validations) {
    let result: unknown;
    try {
      result = env.evaluate(validation.expression, context);
    } catch (error) {
      messages.push(`error: ${(error as Error).message}`);
      continue;
    }
    if (result === true) continue;
    let message = validation.message ?? validation.expression;
    if (validation.messageExpression) {
      const evaluated = env.evaluate(validation.messageExpression, context);
      if (typeof evaluated === 'string' && evaluated !== '') message = evaluated;
    }
    messages.push(message);
  }
  return messages.length === 0 ? { outcome: 'allowed' } : { outcome: 'denied', messages };
}

interface NodeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    finalizers?: string[];
  };
  spec: { podCIDR: string; providerID: string; taints: { key: string; value?: string; effect: string }[]; unschedulable?: boolean };
  status: { nodeInfo: { kubeletVersion: string }; capacity: Record<string, string>; conditions: { type: string; status: string; reason?: string; message?: string }[] };
}

/** A node as AKS registers it, with labels the agent wrote earlier. */
const NODE: NodeObject = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: {
    name: 'aks-system-12345678-vmss000000',
    uid: '4e2c1d8a-0000-4000-8000-000000000001',
    resourceVersion: '1001',
    labels: {
      'kubernetes.io/hostname': 'aks-system-12345678-vmss000000',
      'kubernetes.io/os': 'linux',
      agentpool: 'system',
      'kubernetes.azure.com/agentpool': 'system',
      'topology.kubernetes.io/zone': 'westeurope-1',
      'topology.kubernetes.io/region': 'westeurope',
      'node.kubernetes.io/instance-type': 'Standard_D4s_v5',
      'imds-labeler.io/fault-domain': '0',
      'imds-labeler.io/update-domain': '0',
      'tags.imds-labeler.io/env': 'prod',
    },
    annotations: {
      'node.alpha.kubernetes.io/ttl': '0',
      'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      'imds-labeler.io/owned-labels': 'imds-labeler.io/fault-domain,imds-labeler.io/update-domain,tags.imds-labeler.io/env',
    },
  },
  spec: {
    podCIDR: '10.244.0.0/24',
    providerID: 'azure:///subscriptions/0/resourceGroups/mc/providers/Microsoft.Compute/virtualMachineScaleSets/aks-system/virtualMachines/0',
    taints: [
      { key: 'CriticalAddonsOnly', value: 'true', effect: 'NoSchedule' },
      { key: 'imds-labeler.io/unlabelled', effect: 'NoSchedule' },
      { key: 'example.com/gpu', value: 'a100', effect: 'NoExecute' },
    ],
  },
  status: {
    nodeInfo: { kubeletVersion: 'v1.31.2' },
    capacity: { cpu: '4', pods: '110' },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
      { type: 'imds-labeler.io/MaintenanceScheduled', status: 'False', reason: 'NoMaintenanceScheduled', message: 'no scheduled event for this VM' },
    ],
  },
};

const AGENT = 'system:serviceaccount:imds-labeler:imds-labeler';
const NODE_NAME_KEY = 'authentication.kubernetes.io/node-name';

interface Case {
  name: string;
  policy?: keyof typeof POLICIES;
  /** The request on nodes/status rather than the node itself. */
  status?: boolean;
  /** The node as it is before the request, when not NODE. */
  before?: (node: NodeObject) => void;
  username?: string;
  /** The node-name extra of the token; null: no extra at all. */
  nodeNameExtra?: string[] | null;
  change: (node: NodeObject) => void;
  expect: Verdict['outcome'];
  /** A piece of the denial message. */
  says?: string;
}

const CASES: Case[] = [
  { name: 'own node, own label added', change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'), expect: 'allowed' },
  { name: 'own node, own label changed', change: (n) => void (n.metadata.labels['imds-labeler.io/fault-domain'] = '2'), expect: 'allowed' },
  { name: 'own node, tag label added', change: (n) => void (n.metadata.labels['tags.imds-labeler.io/team'] = 'data'), expect: 'allowed' },
  {
    name: 'own node, own label removed',
    change: (n) => void delete n.metadata.labels['imds-labeler.io/update-domain'],
    expect: 'allowed',
  },
  { name: 'own node, own annotation changed', change: (n) => void (n.metadata.annotations['imds-labeler.io/owned-labels'] = 'imds-labeler.io/fault-domain'), expect: 'allowed' },
  { name: 'own node, nothing changed', change: () => undefined, expect: 'allowed' },
  { name: 'own node, status and resourceVersion differ (set by the server)', change: (n) => void ((n.metadata.resourceVersion = '1002'), (n.status.nodeInfo.kubeletVersion = 'v1.31.3')), expect: 'allowed' },
  {
    name: 'another node',
    nodeNameExtra: ['aks-system-12345678-vmss000001'],
    change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'),
    expect: 'denied',
    says: 'imds-labeler on node aks-system-12345678-vmss000001 may not change node aks-system-12345678-vmss000000',
  },
  { name: 'a token without the node-name extra', nodeNameExtra: [], change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'), expect: 'denied', says: 'does not name exactly one node' },
  { name: 'a token without any extra', nodeNameExtra: null, change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'), expect: 'denied', says: 'does not name exactly one node' },
  {
    name: 'a token naming two nodes',
    nodeNameExtra: ['aks-system-12345678-vmss000000', 'aks-system-12345678-vmss000001'],
    change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'),
    expect: 'denied',
    says: 'does not name exactly one node',
  },
  { name: 'a foreign label added', change: (n) => void (n.metadata.labels['node-role.kubernetes.io/infra'] = ''), expect: 'denied', says: 'refused: node-role.kubernetes.io/infra' },
  { name: 'a foreign label changed', change: (n) => void (n.metadata.labels.agentpool = 'user'), expect: 'denied', says: 'refused: agentpool' },
  { name: 'a foreign label removed', change: (n) => void delete n.metadata.labels['kubernetes.azure.com/agentpool'], expect: 'denied', says: 'refused: kubernetes.azure.com/agentpool' },
  {
    name: 'own and foreign labels in one patch',
    change: (n) => void ((n.metadata.labels['imds-labeler.io/zone'] = '1'), (n.metadata.labels['kubernetes.io/os'] = 'windows')),
    expect: 'denied',
    says: 'refused: kubernetes.io/os',
  },
  { name: 'a key that only looks like the prefix', change: (n) => void (n.metadata.labels['imds-labeler.io.evil.com/x'] = '1'), expect: 'denied', says: 'imds-labeler.io.evil.com/x' },
  { name: 'a key ending in the tag prefix', change: (n) => void (n.metadata.labels['xtags.imds-labeler.io/x'] = '1'), expect: 'denied', says: 'xtags.imds-labeler.io/x' },
  { name: 'a foreign annotation added', change: (n) => void (n.metadata.annotations['cluster-autoscaler.kubernetes.io/scale-down-disabled'] = 'true'), expect: 'denied', says: 'annotations under imds-labeler.io/ and tags.imds-labeler.io/; refused: cluster-autoscaler.kubernetes.io/scale-down-disabled' },
  { name: 'a foreign annotation removed', change: (n) => void delete n.metadata.annotations['node.alpha.kubernetes.io/ttl'], expect: 'denied', says: 'refused: node.alpha.kubernetes.io/ttl' },
  { name: 'all taints removed', change: (n) => void (n.spec.taints = []), expect: 'denied', says: 'may change only its own taints' },
  { name: 'a foreign taint removed', change: (n) => void n.spec.taints.shift(), expect: 'denied', says: 'may change only its own taints' },
  { name: 'a taint added', change: (n) => void n.spec.taints.push({ key: 'x', value: 'y', effect: 'NoExecute' }), expect: 'denied', says: 'may change only its own taints' },
  { name: 'a taint under its own prefix that is not one of its own', change: (n) => void n.spec.taints.push({ key: 'imds-labeler.io/other', effect: 'NoSchedule' }), expect: 'denied', says: 'may change only its own taints' },
  { name: 'a foreign taint changed', change: (n) => void (n.spec.taints[2]!.effect = 'NoSchedule'), expect: 'denied', says: 'may change only its own taints' },
  { name: 'foreign taints reordered', change: (n) => void n.spec.taints.reverse(), expect: 'denied', says: 'may change only its own taints' },
  { name: 'the start-up taint removed, the others kept', change: (n) => void n.spec.taints.splice(1, 1), expect: 'allowed' },
  { name: 'the start-up taint changed to NoExecute', change: (n) => void (n.spec.taints[1]!.effect = 'NoExecute'), expect: 'denied', says: 'may change only its own taints' },
  {
    name: 'the start-up taint added back',
    change: (n) => void n.spec.taints.push({ key: 'imds-labeler.io/unlabelled', effect: 'PreferNoSchedule' }),
    expect: 'denied',
    says: 'remove imds-labeler.io/unlabelled or imds-labeler.io/maintenance',
  },
  { name: 'the maintenance taint added, taint off', change: (n) => void n.spec.taints.push({ key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' }), expect: 'denied', says: 'may change only its own taints' },
  { name: 'the maintenance taint added, taint on', policy: 'maintenanceTaint', change: (n) => void n.spec.taints.push({ key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' }), expect: 'allowed' },
  {
    name: 'the maintenance taint as NoExecute, taint on',
    policy: 'maintenanceTaint',
    change: (n) => void n.spec.taints.push({ key: 'imds-labeler.io/maintenance', effect: 'NoExecute' }),
    expect: 'denied',
    says: 'add (NoSchedule) or remove imds-labeler.io/maintenance',
  },
  {
    name: 'the maintenance taint removed, taint off (an earlier config put it there)',
    before: (n) => void n.spec.taints.splice(1, 0, { key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' }),
    change: (n) => void n.spec.taints.splice(1, 1),
    expect: 'allowed',
  },
  { name: 'the node cordoned', change: (n) => void (n.spec.unschedulable = true), expect: 'denied', says: "may not change the node's spec other than its own taints; refused: unschedulable" },
  { name: 'the provider id changed', change: (n) => void (n.spec.providerID = 'azure:///other'), expect: 'denied', says: 'refused: providerID' },
  { name: 'status: its own condition changed', status: true, change: (n) => void Object.assign(n.status.conditions[1]!, { status: 'True', reason: 'RebootScheduled' }), expect: 'allowed' },
  { name: 'status: its own condition removed', status: true, change: (n) => void n.status.conditions.pop(), expect: 'allowed' },
  { name: 'status: the Ready condition changed', status: true, change: (n) => void (n.status.conditions[0]!.status = 'False'), expect: 'denied', says: 'its own node condition imds-labeler.io/MaintenanceScheduled; refused: Ready' },
  { name: 'status: a foreign condition added', status: true, change: (n) => void n.status.conditions.push({ type: 'VMEventScheduled', status: 'True' }), expect: 'denied', says: 'refused: VMEventScheduled' },
  { name: 'status: the Ready condition removed', status: true, change: (n) => void n.status.conditions.shift(), expect: 'denied', says: 'refused: Ready' },
  { name: 'status: the capacity changed', status: true, change: (n) => void (n.status.capacity.pods = '1'), expect: 'denied', says: 'other than its condition imds-labeler.io/MaintenanceScheduled; refused: capacity' },
  { name: 'status: a label changed through it, under its prefix', status: true, change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'), expect: 'allowed' },
  { name: 'status: a foreign label changed through it', status: true, change: (n) => void (n.metadata.labels.agentpool = 'x'), expect: 'denied', says: 'refused: agentpool' },
  {
    name: 'status: of another node',
    status: true,
    nodeNameExtra: ['aks-system-12345678-vmss000001'],
    change: (n) => void (n.status.conditions[1]!.status = 'True'),
    expect: 'denied',
    says: 'may not change node aks-system-12345678-vmss000000',
  },
  { name: 'a finalizer added', change: (n) => void (n.metadata.finalizers = ['example.com/hold']), expect: 'denied', says: 'finalizers' },
  { name: 'the well-known zone label changed, without opt-in', change: (n) => void (n.metadata.labels['topology.kubernetes.io/zone'] = 'westeurope-2'), expect: 'denied', says: 'refused: topology.kubernetes.io/zone' },
  { name: 'the well-known zone label changed, with opt-in', policy: 'wellKnown', change: (n) => void (n.metadata.labels['topology.kubernetes.io/zone'] = 'westeurope-2'), expect: 'allowed' },
  {
    name: 'the well-known instance type removed, without opt-in (an earlier config wrote it)',
    change: (n) => void delete n.metadata.labels['node.kubernetes.io/instance-type'],
    expect: 'allowed',
  },
  {
    name: 'the well-known instance type added, without opt-in',
    change: (n) => void (n.metadata.labels['node.kubernetes.io/instance-type'] = 'Standard_X'),
    expect: 'denied',
    says: 'refused: node.kubernetes.io/instance-type',
  },
  {
    name: 'the well-known instance type removed, with opt-in',
    policy: 'wellKnown',
    change: (n) => void delete n.metadata.labels['node.kubernetes.io/instance-type'],
    expect: 'allowed',
  },
  { name: 'another well-known key, with opt-in', policy: 'wellKnown', change: (n) => void (n.metadata.labels['kubernetes.io/os'] = 'windows'), expect: 'denied', says: 'refused: kubernetes.io/os' },
  { name: 'a well-known key as an annotation, with opt-in', policy: 'wellKnown', change: (n) => void (n.metadata.annotations['topology.kubernetes.io/zone'] = '1'), expect: 'denied', says: 'refused: topology.kubernetes.io/zone' },
  { name: 'custom prefix: its own key', policy: 'customPrefix', change: (n) => void (n.metadata.labels['azure.example.com/zone'] = '1'), expect: 'allowed' },
  { name: 'custom prefix: its tag key', policy: 'customPrefix', change: (n) => void (n.metadata.labels['tags.azure.example.com/env'] = 'dev'), expect: 'allowed' },
  { name: 'custom prefix: the default prefix is foreign', policy: 'customPrefix', change: (n) => void (n.metadata.labels['imds-labeler.io/zone'] = '1'), expect: 'denied', says: 'refused: imds-labeler.io/zone' },
  { name: 'another user: not matched at all', username: 'system:node:aks-system-12345678-vmss000000', change: (n) => void (n.spec.taints = []), expect: 'not-matched' },
  { name: 'another service account: not matched', username: 'system:serviceaccount:kube-system:cloud-node-manager', change: (n) => void (n.metadata.labels.agentpool = 'x'), expect: 'not-matched' },
  { name: 'the same account name in another namespace: not matched', username: 'system:serviceaccount:other:imds-labeler', change: (n) => void (n.metadata.labels.agentpool = 'x'), expect: 'not-matched' },
];

function request(c: Case, node: NodeObject, old: NodeObject): Admission {
  const extra = c.nodeNameExtra === null ? undefined : { [NODE_NAME_KEY]: c.nodeNameExtra ?? [NODE.metadata.name], 'authentication.kubernetes.io/pod-name': ['imds-labeler-abcde'] };
  return {
    object: node,
    oldObject: old,
    request: {
      operation: 'UPDATE',
      name: node.metadata.name,
      resource: { group: '', version: 'v1', resource: 'nodes' },
      // As the API server sends it: no subResource at all on the node itself.
      ...(c.status ? { subResource: 'status' } : {}),
      userInfo: { username: c.username ?? AGENT, groups: ['system:serviceaccounts', 'system:authenticated'], ...(extra ? { extra } : {}) },
    },
  };
}

describe('ValidatingAdmissionPolicy CEL', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const old = structuredClone(NODE);
    c.before?.(old);
    const node = structuredClone(old);
    c.change(node);
    const verdict = admit(POLICIES[c.policy ?? 'default'], request(c, node, old));
    expect(verdict.outcome, JSON.stringify(verdict)).toBe(c.expect);
    if (c.says) {
      expect(verdict.outcome).toBe('denied');
      if (verdict.outcome === 'denied') expect(verdict.messages.join(' | ')).toContain(c.says);
    }
    if (verdict.outcome === 'denied') for (const m of verdict.messages) expect(m).not.toMatch(/^error:/);
  });

  it('every expression parses and uses only functions Kubernetes CEL also has', () => {
    for (const policy of Object.values(POLICIES)) {
      const expressions = [
        ...policy.matchConditions.map((m) => m.expression),
        ...policy.variables.map((v) => v.expression),
        ...policy.validations.flatMap((v) => [v.expression, v.messageExpression ?? "''"]),
      ];
      for (const expression of expressions) {
        expect(() => env.parse(expression), expression).not.toThrow();
        const code = expression.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, "''");
        for (const [, fn] of code.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)) expect(FUNCTIONS, `${fn} in ${expression}`).toContain(fn);
      }
    }
  });

  it('every validation denies with reason Forbidden and a static message as the fallback', () => {
    for (const v of POLICIES.default.validations) {
      expect(v.reason).toBe('Forbidden');
      expect(v.message).toMatch(/^imds-labeler /);
    }
  });

  it('the variables are in dependency order (the API server refuses forward references)', () => {
    for (const policy of Object.values(POLICIES)) {
      const seen = new Set<string>();
      for (const v of policy.variables) {
        for (const [, ref] of v.expression.matchAll(/variables\.([A-Za-z_]+)/g)) expect(seen, `${v.name} uses ${ref}`).toContain(ref);
        seen.add(v.name);
      }
    }
  });
});

describe('the rendered policy object', () => {
  const objects: K8sObject[] = render({}, { apiVersions: [VAP_API] });
  it('is admissionregistration.k8s.io/v1 with a binding to it', () => {
    const policy = find(objects, 'ValidatingAdmissionPolicy');
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(at(find(objects, 'ValidatingAdmissionPolicyBinding'), 'spec', 'policyName')).toBe(policy.metadata.name);
  });
});
