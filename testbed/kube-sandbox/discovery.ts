/**
 * Discovery documents in their legacy (unaggregated) form: /api, /api/v1, /apis, /apis/events.k8s.io,
 * /apis/events.k8s.io/v1, and /version. kubectl 1.30+ first asks for aggregated discovery
 * (`as=APIGroupDiscoveryList`); answering with plain `application/json` makes it fall back to these.
 */
import { RESOURCES, type ResourceDef } from './resources.ts';
import type { JsonObject } from './types.ts';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '59526cd4867447956156ae3a602fcbac10a2c335',
  gitTreeState: 'clean',
  buildDate: '2025-04-22T16:02:27Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

export function apiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiResources(group: string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const def of RESOURCES.filter((d) => d.group === group)) {
    out.push(resourceEntry(def));
    for (const sub of def.subresources) {
      out.push({ name: `${def.resource}/${sub}`, singularName: '', namespaced: def.namespaced, kind: def.kind, verbs: ['get', 'patch', 'update'] });
    }
  }
  return out.sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

function resourceEntry(def: ResourceDef): JsonObject {
  return {
    name: def.resource,
    singularName: def.singular,
    namespaced: def.namespaced,
    kind: def.kind,
    verbs: [...def.verbs],
    shortNames: [...def.shortNames],
    storageVersionHash: def.storageVersionHash,
  };
}

export function coreResourceList(): JsonObject {
  return { kind: 'APIResourceList', groupVersion: 'v1', resources: apiResources('') };
}

const EVENTS_GROUP: JsonObject = {
  name: 'events.k8s.io',
  versions: [{ groupVersion: 'events.k8s.io/v1', version: 'v1' }],
  preferredVersion: { groupVersion: 'events.k8s.io/v1', version: 'v1' },
};

export function apiGroupList(): JsonObject {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [EVENTS_GROUP] };
}

export function apiGroup(name: string): JsonObject | undefined {
  return name === 'events.k8s.io' ? { kind: 'APIGroup', apiVersion: 'v1', ...EVENTS_GROUP } : undefined;
}

export function groupResourceList(group: string, version: string): JsonObject | undefined {
  if (group !== 'events.k8s.io' || version !== 'v1') return undefined;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'events.k8s.io/v1', resources: apiResources('events.k8s.io') };
}
