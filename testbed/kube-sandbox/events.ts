/**
 * Events: one storage, two APIs. Stored in the core `v1` shape; `events.k8s.io/v1` reads and writes are
 * converted field by field, as kube-apiserver does through its internal version.
 */
import type { StrategicSchema } from './patch/strategic.ts';
import type { FieldError } from './status.ts';
import { since, type TableConvertor } from './table.ts';
import { isObject, type Json, type JsonObject, type KubeObject } from './types.ts';
import { validateDnsSubdomain, validateQualifiedName } from '../../src/keys/names.ts';
import { validateObjectMeta } from './validation.ts';
import { OBJECT_META_SCHEMA } from './nodes.ts';

export const EVENT_SCHEMA: StrategicSchema = { fields: { metadata: OBJECT_META_SCHEMA } };

export const CORE_EVENT_FIELDS = {
  apiVersion: true,
  kind: true,
  metadata: true,
  involvedObject: true,
  reason: true,
  message: true,
  source: true,
  firstTimestamp: true,
  lastTimestamp: true,
  count: true,
  type: true,
  eventTime: true,
  series: true,
  action: true,
  related: true,
  reportingComponent: true,
  reportingInstance: true,
} as const;

export const EVENTS_V1_FIELDS = {
  apiVersion: true,
  kind: true,
  metadata: true,
  eventTime: true,
  series: true,
  reportingController: true,
  reportingInstance: true,
  action: true,
  reason: true,
  regarding: true,
  related: true,
  note: true,
  type: true,
  deprecatedSource: true,
  deprecatedFirstTimestamp: true,
  deprecatedLastTimestamp: true,
  deprecatedCount: true,
} as const;

/** events.k8s.io/v1 name → core v1 name. */
const V1_TO_CORE: Record<string, string> = {
  eventTime: 'eventTime',
  series: 'series',
  reportingController: 'reportingComponent',
  reportingInstance: 'reportingInstance',
  action: 'action',
  reason: 'reason',
  regarding: 'involvedObject',
  related: 'related',
  note: 'message',
  type: 'type',
  deprecatedSource: 'source',
  deprecatedFirstTimestamp: 'firstTimestamp',
  deprecatedLastTimestamp: 'lastTimestamp',
  deprecatedCount: 'count',
};

const nonEmpty = (v: Json | undefined): boolean => v !== undefined && v !== null && v !== '' && v !== 0;

/** The core v1 Event as apiserver serializes it (zero-valued structs and timestamps included). */
export function normalizeCoreEvent(e: KubeObject): KubeObject {
  const out: JsonObject = { kind: 'Event', apiVersion: 'v1', metadata: e.metadata ?? {} };
  out.involvedObject = isObject(e.involvedObject) ? e.involvedObject : {};
  for (const k of ['reason', 'message'] as const) if (nonEmpty(e[k])) out[k] = e[k]!;
  out.source = isObject(e.source) ? e.source : {};
  out.firstTimestamp = e.firstTimestamp ?? null;
  out.lastTimestamp = e.lastTimestamp ?? null;
  if (nonEmpty(e.count)) out.count = e.count!;
  if (nonEmpty(e.type)) out.type = e.type!;
  out.eventTime = e.eventTime ?? null;
  for (const k of ['series', 'action', 'related'] as const) if (nonEmpty(e[k])) out[k] = e[k]!;
  out.reportingComponent = typeof e.reportingComponent === 'string' ? e.reportingComponent : '';
  out.reportingInstance = typeof e.reportingInstance === 'string' ? e.reportingInstance : '';
  return out;
}

/** core v1 → events.k8s.io/v1. */
export function coreToEventsV1(e: KubeObject): KubeObject {
  const out: JsonObject = { kind: 'Event', apiVersion: 'events.k8s.io/v1', metadata: e.metadata ?? {} };
  out.eventTime = e.eventTime ?? null;
  if (nonEmpty(e.series)) out.series = e.series!;
  if (nonEmpty(e.reportingComponent)) out.reportingController = e.reportingComponent!;
  if (nonEmpty(e.reportingInstance)) out.reportingInstance = e.reportingInstance!;
  if (nonEmpty(e.action)) out.action = e.action!;
  if (nonEmpty(e.reason)) out.reason = e.reason!;
  out.regarding = isObject(e.involvedObject) ? e.involvedObject : {};
  if (nonEmpty(e.related)) out.related = e.related!;
  if (nonEmpty(e.message)) out.note = e.message!;
  if (nonEmpty(e.type)) out.type = e.type!;
  out.deprecatedSource = isObject(e.source) ? e.source : {};
  out.deprecatedFirstTimestamp = e.firstTimestamp ?? null;
  out.deprecatedLastTimestamp = e.lastTimestamp ?? null;
  if (nonEmpty(e.count)) out.deprecatedCount = e.count!;
  return out;
}

/** events.k8s.io/v1 → core v1 (unknown fields are kept, for the unknown-field check that follows). */
export function eventsV1ToCore(e: KubeObject): KubeObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata') continue;
    out[V1_TO_CORE[k] ?? k] = v;
  }
  return normalizeCoreEvent({ ...out, metadata: e.metadata ?? {} });
}

/** Field selector values (core names), as the events registry exposes them. */
export function eventFieldLabels(e: KubeObject): Record<string, string> {
  const meta = isObject(e.metadata) ? e.metadata : {};
  const io = isObject(e.involvedObject) ? e.involvedObject : {};
  const src = isObject(e.source) ? e.source : {};
  const s = (v: Json | undefined): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
  return {
    'metadata.name': s(meta.name),
    'metadata.namespace': s(meta.namespace),
    'involvedObject.kind': s(io.kind),
    'involvedObject.namespace': s(io.namespace),
    'involvedObject.name': s(io.name),
    'involvedObject.uid': s(io.uid),
    'involvedObject.apiVersion': s(io.apiVersion),
    'involvedObject.resourceVersion': s(io.resourceVersion),
    'involvedObject.fieldPath': s(io.fieldPath),
    reason: s(e.reason),
    reportingComponent: s(e.reportingComponent),
    source: s(src.component),
    type: s(e.type),
  };
}

/** events.k8s.io/v1 field selector names → core names. */
export const EVENTS_V1_FIELD_LABELS: Record<string, string> = {
  'metadata.name': 'metadata.name',
  'metadata.namespace': 'metadata.namespace',
  reason: 'reason',
  'regarding.kind': 'involvedObject.kind',
  'regarding.namespace': 'involvedObject.namespace',
  'regarding.name': 'involvedObject.name',
  'regarding.uid': 'involvedObject.uid',
  'regarding.apiVersion': 'involvedObject.apiVersion',
  'regarding.resourceVersion': 'involvedObject.resourceVersion',
  'regarding.fieldPath': 'involvedObject.fieldPath',
  reportingController: 'reportingComponent',
  type: 'type',
};

const REPORTING_INSTANCE_MAX = 128;
const ACTION_MAX = 128;
const REASON_MAX = 128;
const NOTE_MAX = 1024;

/**
 * ValidateEventCreate/Update (pkg/apis/core/validation/events.go) on the core shape. `strict` is the
 * events.k8s.io/v1 request version, which adds ObjectMeta, eventTime, type and deprecated-field checks.
 */
export function validateEvent(e: KubeObject, strict: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const meta = isObject(e.metadata) ? e.metadata : {};
  const ns = typeof meta.namespace === 'string' ? meta.namespace : '';
  const io = isObject(e.involvedObject) ? e.involvedObject : {};
  const ioNs = typeof io.namespace === 'string' ? io.namespace : '';
  const str = (v: Json | undefined): string => (typeof v === 'string' ? v : '');
  const controllerField = strict ? 'reportingController' : 'reportingComponent';
  if (typeof meta.name !== 'string' || meta.name === '') {
    if (typeof meta.generateName !== 'string' || meta.generateName === '') {
      errs.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
    }
  }
  if (e.eventTime === null || e.eventTime === undefined || e.eventTime === '') {
    if (ioNs === '') {
      if (ns !== '' && ns !== 'default') errs.push({ type: 'FieldValueInvalid', field: 'involvedObject.namespace', value: ioNs, detail: 'does not match event.namespace' });
    } else if (ns !== ioNs) {
      errs.push({ type: 'FieldValueInvalid', field: 'involvedObject.namespace', value: ioNs, detail: 'does not match event.namespace' });
    }
  } else {
    if (ioNs === '' && ns !== 'default' && ns !== 'kube-system') {
      errs.push({ type: 'FieldValueInvalid', field: 'involvedObject.namespace', value: ioNs, detail: 'does not match event.namespace' });
    }
    const controller = str(e.reportingComponent);
    if (controller === '') errs.push({ type: 'FieldValueRequired', field: controllerField, detail: '' });
    else for (const d of validateQualifiedName(controller)) errs.push({ type: 'FieldValueInvalid', field: controllerField, value: controller, detail: d });
    const instance = str(e.reportingInstance);
    if (instance === '') errs.push({ type: 'FieldValueRequired', field: 'reportingInstance', detail: '' });
    if (instance.length > REPORTING_INSTANCE_MAX) errs.push({ type: 'FieldValueInvalid', field: 'reportingInstance', value: '', detail: `can have at most ${REPORTING_INSTANCE_MAX} characters` });
    const action = str(e.action);
    if (action === '') errs.push({ type: 'FieldValueRequired', field: 'action', detail: '' });
    if (action.length > ACTION_MAX) errs.push({ type: 'FieldValueInvalid', field: 'action', value: '', detail: `can have at most ${ACTION_MAX} characters` });
    const reason = str(e.reason);
    if (reason === '') errs.push({ type: 'FieldValueRequired', field: 'reason', detail: '' });
    if (reason.length > REASON_MAX) errs.push({ type: 'FieldValueInvalid', field: 'reason', value: '', detail: `can have at most ${REASON_MAX} characters` });
    if (str(e.message).length > NOTE_MAX) errs.push({ type: 'FieldValueInvalid', field: strict ? 'note' : 'message', value: '', detail: `can have at most ${NOTE_MAX} characters` });
  }
  for (const d of validateDnsSubdomain(ns)) errs.push({ type: 'FieldValueInvalid', field: 'namespace', value: ns, detail: d });
  if (!strict) return errs;

  errs.push(...validateObjectMeta(meta, { namespaced: true }).filter((x) => x.field !== 'metadata.name' || x.type !== 'FieldValueRequired'));
  if (e.eventTime === null || e.eventTime === undefined || e.eventTime === '') errs.push({ type: 'FieldValueRequired', field: 'eventTime', detail: '' });
  const type = str(e.type);
  if (type !== 'Normal' && type !== 'Warning') errs.push({ type: 'FieldValueInvalid', field: 'type', value: '', detail: `has invalid value: ${type}` });
  if (nonEmpty(e.firstTimestamp)) errs.push({ type: 'FieldValueInvalid', field: 'deprecatedFirstTimestamp', value: '', detail: 'needs to be unset' });
  if (nonEmpty(e.lastTimestamp)) errs.push({ type: 'FieldValueInvalid', field: 'deprecatedLastTimestamp', value: '', detail: 'needs to be unset' });
  if (nonEmpty(e.count)) errs.push({ type: 'FieldValueInvalid', field: 'deprecatedCount', value: '', detail: 'needs to be unset' });
  const src = isObject(e.source) ? e.source : {};
  if (nonEmpty(src.component) || nonEmpty(src.host)) errs.push({ type: 'FieldValueInvalid', field: 'deprecatedSource', value: '', detail: 'needs to be unset' });
  if (isObject(e.series)) {
    const count = e.series.count;
    if (typeof count !== 'number' || count < 2) errs.push({ type: 'FieldValueInvalid', field: 'series.count', value: '', detail: 'should be at least 2' });
    if (!nonEmpty(e.series.lastObservedTime)) errs.push({ type: 'FieldValueRequired', field: 'series.lastObservedTime', detail: '' });
  }
  return errs;
}

const column = (name: string, description: string, priority = 0) => ({ name, type: 'string' as const, format: '', description, priority });

/** kubectl's event columns (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, ...), on the core shape. */
export const EVENT_TABLE: TableConvertor = {
  columns: [
    column('Last Seen', 'Time when last event from this kind was observed'),
    column('Type', 'Type of this event (Normal, Warning), new types could be added in the future.'),
    column('Reason', 'This should be a short, machine understandable string that gives the reason for this event being generated.'),
    column('Object', 'Object this event is about.'),
    column('Subobject', 'Specific subobject of the object this event is about.', 1),
    column('Source', 'The component reporting this event.', 1),
    column('Message', 'A human-readable description of the status of this operation.'),
    column('First Seen', 'The time at which the event was first recorded.', 1),
    column('Count', 'The number of times this event has occurred.', 1),
    column('Name', 'Name must be unique within a namespace.', 1),
  ],
  cells(e, now) {
    const core = e.apiVersion === 'events.k8s.io/v1' ? eventsV1ToCore(e) : e;
    const meta = isObject(core.metadata) ? core.metadata : {};
    const io = isObject(core.involvedObject) ? core.involvedObject : {};
    const src = isObject(core.source) ? core.source : {};
    const series = isObject(core.series) ? core.series : undefined;
    const first = core.firstTimestamp ?? core.eventTime ?? meta.creationTimestamp;
    const last = series?.lastObservedTime ?? core.lastTimestamp ?? core.eventTime ?? first;
    const source = [src.component, src.host].filter((x) => typeof x === 'string' && x).join(', ') || (typeof core.reportingComponent === 'string' ? core.reportingComponent : '');
    const count = typeof series?.count === 'number' ? series.count : typeof core.count === 'number' ? core.count : 1;
    return [
      since(last as Json, now),
      (core.type as Json) ?? '',
      (core.reason as Json) ?? '',
      `${String(io.kind ?? '').toLowerCase()}/${String(io.name ?? '')}`,
      (io.fieldPath as Json) ?? '',
      source,
      (core.message as Json) ?? '',
      since(first as Json, now),
      count,
      (meta.name as Json) ?? '',
    ];
  },
};
