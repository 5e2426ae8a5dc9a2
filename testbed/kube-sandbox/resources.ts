/** The resources the sandbox serves, one descriptor per group/version/resource. */
import { CORE_EVENT_FIELDS, EVENTS_V1_FIELDS, EVENTS_V1_FIELD_LABELS, EVENT_SCHEMA, EVENT_TABLE, coreToEventsV1, eventFieldLabels, eventsV1ToCore, normalizeCoreEvent, validateEvent } from './events.ts';
import { NODE_FIELDS, NODE_SCHEMA, NODE_TABLE, nodeFieldLabels, validateNodeSpec } from './nodes.ts';
import type { StrategicSchema } from './patch/strategic.ts';
import type { FieldError, GroupResource } from './status.ts';
import type { TableConvertor } from './table.ts';
import { isObject, type KubeObject } from './types.ts';
import { validateObjectMeta } from './validation.ts';

export type StorageName = 'nodes' | 'events';

/** Fields a type declares: `true` means anything below is accepted. */
export type FieldTree = { readonly [k: string]: true | FieldTree };

export interface ResourceDef {
  group: '' | 'events.k8s.io';
  version: 'v1';
  /** `v1` or `events.k8s.io/v1`. */
  apiVersion: string;
  resource: 'nodes' | 'events';
  singular: string;
  kind: 'Node' | 'Event';
  listKind: string;
  shortNames: string[];
  namespaced: boolean;
  storage: StorageName;
  subresources: readonly string[];
  verbs: readonly string[];
  storageVersionHash: string;
  categories?: readonly string[];
  /** Stored (core) shape → served shape. */
  toExternal(stored: KubeObject): KubeObject;
  /** Served shape → stored shape. */
  toStorage(external: KubeObject): KubeObject;
  /** Field selector values of a stored object, by the served field names. */
  fieldLabels(stored: KubeObject): Record<string, string>;
  smpSchema: StrategicSchema;
  fields: FieldTree;
  /** Validation of the stored shape (messages use served field names). */
  validate(stored: KubeObject): FieldError[];
  table: TableConvertor;
  /** PUT to a missing name creates (events) or answers 404 (nodes). */
  allowCreateOnUpdate: boolean;
}

export const groupResource = (def: ResourceDef): GroupResource => ({ group: def.group, resource: def.resource });

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

export const NODES: ResourceDef = {
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  resource: 'nodes',
  singular: 'node',
  kind: 'Node',
  listKind: 'NodeList',
  shortNames: ['no'],
  namespaced: false,
  storage: 'nodes',
  subresources: ['status'],
  verbs: VERBS,
  storageVersionHash: 'XwShjMxG9Fs=',
  toExternal: (o) => ({ ...o, kind: 'Node', apiVersion: 'v1' }),
  toStorage: (o) => ({ ...o, kind: 'Node', apiVersion: 'v1' }),
  fieldLabels: nodeFieldLabels,
  smpSchema: NODE_SCHEMA,
  fields: NODE_FIELDS,
  validate: (o) => [...validateObjectMeta(isObject(o.metadata) ? o.metadata : {}, { namespaced: false }), ...validateNodeSpec(o)],
  table: NODE_TABLE,
  allowCreateOnUpdate: false,
};

export const CORE_EVENTS: ResourceDef = {
  group: '',
  version: 'v1',
  apiVersion: 'v1',
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  shortNames: ['ev'],
  namespaced: true,
  storage: 'events',
  subresources: [],
  verbs: VERBS,
  storageVersionHash: 'r2yiGXH7wu8=',
  toExternal: (o) => normalizeCoreEvent(o),
  toStorage: (o) => normalizeCoreEvent(o),
  fieldLabels: eventFieldLabels,
  smpSchema: EVENT_SCHEMA,
  fields: CORE_EVENT_FIELDS,
  validate: (o) => validateEvent(o, false),
  table: EVENT_TABLE,
  allowCreateOnUpdate: true,
};

export const EVENTS_V1: ResourceDef = {
  ...CORE_EVENTS,
  group: 'events.k8s.io',
  apiVersion: 'events.k8s.io/v1',
  toExternal: coreToEventsV1,
  toStorage: eventsV1ToCore,
  fieldLabels: (o) => {
    const core = eventFieldLabels(o);
    const out: Record<string, string> = {};
    for (const [ext, int] of Object.entries(EVENTS_V1_FIELD_LABELS)) out[ext] = core[int] ?? '';
    return out;
  },
  fields: EVENTS_V1_FIELDS,
  validate: (o) => validateEvent(o, true),
};

export const RESOURCES: readonly ResourceDef[] = [NODES, CORE_EVENTS, EVENTS_V1];

/** Storage key: `name` for cluster-scoped objects, `namespace/name` otherwise. */
export const storageKey = (def: ResourceDef, namespace: string | undefined, name: string): string => (def.namespaced ? `${namespace ?? ''}/${name}` : name);

export function keyOf(def: ResourceDef, stored: KubeObject): string {
  const meta = isObject(stored.metadata) ? stored.metadata : {};
  return storageKey(def, typeof meta.namespace === 'string' ? meta.namespace : '', typeof meta.name === 'string' ? meta.name : '');
}

/** Unknown fields of `obj` by dotted path, and `obj` with them pruned (as Go decoding drops them). */
export function pruneUnknownFields(obj: KubeObject, tree: FieldTree): { pruned: KubeObject; unknown: string[] } {
  const unknown: string[] = [];
  const walk = (o: KubeObject, t: FieldTree, prefix: string): KubeObject => {
    const out: KubeObject = {};
    for (const [k, v] of Object.entries(o)) {
      const sub = t[k];
      if (sub === undefined) {
        unknown.push(`${prefix}${k}`);
        continue;
      }
      const subTree = prefix === '' && k === 'metadata' ? OBJECT_META_FIELDS : sub;
      out[k] = subTree !== true && isObject(v) ? walk(v, subTree, `${prefix}${k}.`) : v;
    }
    return out;
  };
  return { pruned: walk(obj, tree, ''), unknown };
}

export const OBJECT_META_FIELDS: FieldTree = {
  name: true,
  generateName: true,
  namespace: true,
  selfLink: true,
  uid: true,
  resourceVersion: true,
  generation: true,
  creationTimestamp: true,
  deletionTimestamp: true,
  deletionGracePeriodSeconds: true,
  labels: true,
  annotations: true,
  ownerReferences: true,
  finalizers: true,
  managedFields: true,
};
