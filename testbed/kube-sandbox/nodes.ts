/** Node specifics: realistic seed objects, validation beyond ObjectMeta, the kubectl table, SMP schema. */
import { createHash, randomUUID } from 'node:crypto';
import type { StrategicSchema } from './patch/strategic.ts';
import type { FieldError } from './status.ts';
import { since, type TableConvertor } from './table.ts';
import { isObject, type Json, type JsonObject, type KubeObject } from './types.ts';
import { validateLabelValue, validateQualifiedName } from '../../src/keys/names.ts';

export const KUBELET_VERSION = 'v1.32.4';

/** Field strategies of v1.Node that strategic merge patch honours (from k8s.io/api/core/v1 struct tags). */
export const OBJECT_META_SCHEMA: StrategicSchema = {
  fields: {
    finalizers: { patchStrategy: 'merge' },
    ownerReferences: { patchStrategy: 'merge', patchMergeKey: 'uid' },
  },
};

export const NODE_SCHEMA: StrategicSchema = {
  fields: {
    metadata: OBJECT_META_SCHEMA,
    spec: {
      fields: {
        podCIDRs: { patchStrategy: 'merge' },
        // spec.taints carries no patch strategy in v1.Node: a strategic patch replaces the whole list.
      },
    },
    status: {
      fields: {
        conditions: { patchStrategy: 'merge', patchMergeKey: 'type' },
        addresses: { patchStrategy: 'merge', patchMergeKey: 'type' },
      },
    },
  },
};

/** Fields v1.Node declares, two levels deep (`true`: any content below). */
export const NODE_FIELDS = {
  apiVersion: true,
  kind: true,
  metadata: true,
  spec: { podCIDR: true, podCIDRs: true, providerID: true, unschedulable: true, taints: true, configSource: true, externalID: true },
  status: {
    capacity: true,
    allocatable: true,
    phase: true,
    conditions: true,
    addresses: true,
    daemonEndpoints: true,
    nodeInfo: true,
    images: true,
    volumesInUse: true,
    volumesAttached: true,
    config: true,
    runtimeHandlers: true,
    features: true,
    declaredFeatures: true,
  },
} as const;

const hex = (seed: string, n: number): string => createHash('sha256').update(seed).digest('hex').slice(0, n);

/** A Node as a kubelet on an Azure Linux VM registers it: labels, capacity, conditions, addresses. */
export function seedNode(name: string, index: number, createdAt: string): KubeObject {
  const ip = `10.224.0.${4 + (index % 250)}`;
  const cidr = `10.244.${index % 256}.0/24`;
  const heartbeat = createdAt;
  const condition = (type: string, status: string, reason: string, message: string): JsonObject => ({
    type,
    status,
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: heartbeat,
    reason,
    message,
  });
  const resources = { cpu: '4', 'ephemeral-storage': '129886128Ki', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '16370456Ki', pods: '110' };
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: randomUUID(),
      creationTimestamp: createdAt,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
    status: {
      capacity: resources,
      allocatable: { ...resources, cpu: '3860m', 'ephemeral-storage': '119703055367', memory: '12880280Ki' },
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(`machine-${name}`, 32),
        systemUUID: randomUUID(),
        bootID: randomUUID(),
        kernelVersion: '5.15.0-1079-azure',
        osImage: 'Ubuntu 22.04.5 LTS',
        containerRuntimeVersion: 'containerd://1.7.25-1',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: KUBELET_VERSION,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** Node checks beyond ObjectMeta (pkg/apis/core/validation ValidateNode): taints. */
export function validateNodeSpec(node: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = isObject(node.spec) ? node.spec : {};
  const taints = spec.taints;
  if (taints === undefined || taints === null) return errs;
  if (!Array.isArray(taints)) return [{ type: 'FieldValueInvalid', field: 'spec.taints', value: taints, detail: 'must be a list' }];
  const seen = new Set<string>();
  taints.forEach((t, i) => {
    const f = `spec.taints[${i}]`;
    if (!isObject(t)) {
      errs.push({ type: 'FieldValueInvalid', field: f, value: t, detail: 'must be an object' });
      return;
    }
    const key = typeof t.key === 'string' ? t.key : '';
    for (const d of validateQualifiedName(key)) errs.push({ type: 'FieldValueInvalid', field: `${f}.key`, value: key, detail: d });
    if (typeof t.value === 'string') for (const d of validateLabelValue(t.value)) errs.push({ type: 'FieldValueInvalid', field: `${f}.value`, value: t.value, detail: d });
    const effect = typeof t.effect === 'string' ? t.effect : '';
    if (effect === '') errs.push({ type: 'FieldValueRequired', field: `${f}.effect` });
    else if (!TAINT_EFFECTS.includes(effect)) {
      errs.push({ type: 'FieldValueNotSupported', field: `${f}.effect`, value: effect, detail: `supported values: ${TAINT_EFFECTS.map((e) => `"${e}"`).join(', ')}` });
    }
    const id = `${key}\u0000${effect}`;
    if (seen.has(id)) errs.push({ type: 'FieldValueDuplicate', field: `${f}`, value: t, detail: 'taints must be unique by key and effect pair' });
    seen.add(id);
  });
  return errs;
}

function nodeStatus(node: KubeObject): string {
  const status = isObject(node.status) ? node.status : {};
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  const ready = conditions.find((c): c is JsonObject => isObject(c) && c.type === 'Ready');
  let out = ready === undefined ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  const spec = isObject(node.spec) ? node.spec : {};
  if (spec.unschedulable === true) out += ',SchedulingDisabled';
  return out;
}

function nodeRoles(node: KubeObject): string {
  const meta = isObject(node.metadata) ? node.metadata : {};
  const labels = isObject(meta.labels) ? meta.labels : {};
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && typeof v === 'string' && v) {
      roles.add(v);
    }
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function address(node: KubeObject, type: string): string {
  const status = isObject(node.status) ? node.status : {};
  const addrs = Array.isArray(status.addresses) ? status.addresses : [];
  const a = addrs.find((x): x is JsonObject => isObject(x) && x.type === type);
  return typeof a?.address === 'string' ? a.address : '<none>';
}

function nodeInfo(node: KubeObject, field: string): Json {
  const status = isObject(node.status) ? node.status : {};
  const info = isObject(status.nodeInfo) ? status.nodeInfo : {};
  const v = info[field];
  return typeof v === 'string' && v !== '' ? v : '<unknown>';
}

const column = (name: string, description: string, priority = 0, format = '') => ({ name, type: 'string' as const, format, description, priority });

/** The columns and cells kube-apiserver's node printer produces (pkg/printers/internalversion). */
export const NODE_TABLE: TableConvertor = {
  columns: [
    column('Name', 'Name must be unique within a namespace. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 0, 'name'),
    column('Status', 'The status of the node'),
    column('Roles', 'The roles of the node'),
    column('Age', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
    column('Version', 'Kubelet Version reported by the node.'),
    column('Internal-IP', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    column('External-IP', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    column('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    column('Kernel-Version', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    column('Container-Runtime', 'Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
  ],
  cells(node, now) {
    const meta = isObject(node.metadata) ? node.metadata : {};
    return [
      typeof meta.name === 'string' ? meta.name : '',
      nodeStatus(node),
      nodeRoles(node),
      since(meta.creationTimestamp, now),
      nodeInfo(node, 'kubeletVersion'),
      address(node, 'InternalIP'),
      address(node, 'ExternalIP'),
      nodeInfo(node, 'osImage'),
      nodeInfo(node, 'kernelVersion'),
      nodeInfo(node, 'containerRuntimeVersion'),
    ];
  },
};

/** Field selector values a Node answers to (`metadata.name`, `spec.unschedulable`). */
export function nodeFieldLabels(node: KubeObject): Record<string, string> {
  const meta = isObject(node.metadata) ? node.metadata : {};
  const spec = isObject(node.spec) ? node.spec : {};
  return { 'metadata.name': typeof meta.name === 'string' ? meta.name : '', 'spec.unschedulable': spec.unschedulable === true ? 'true' : 'false' };
}
