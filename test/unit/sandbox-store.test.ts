import { describe, expect, it } from 'vitest';
import { seedNode } from '../../testbed/kube-sandbox/nodes.ts';
import { Registry } from '../../testbed/kube-sandbox/registry.ts';
import { CORE_EVENTS, EVENTS_V1, NODES } from '../../testbed/kube-sandbox/resources.ts';
import { ApiError } from '../../testbed/kube-sandbox/status.ts';
import { Store } from '../../testbed/kube-sandbox/store.ts';
import type { JsonObject, KubeObject } from '../../testbed/kube-sandbox/types.ts';
import { WatchHub, type WatchEvent, type WatchSpec } from '../../testbed/kube-sandbox/watchHub.ts';
import { FakeClock } from '../helpers/fakeClock.ts';

function setup(opts: { historyLimit?: number; nodes?: string[]; bookmarkIntervalMs?: number } = {}) {
  const clock = new FakeClock();
  const store = new Store({ historyLimit: opts.historyLimit ?? 100, initialResourceVersion: 100 });
  const registry = new Registry(store, clock);
  const hub = new WatchHub(store, clock, { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000 });
  (opts.nodes ?? ['n1', 'n2']).forEach((n, i) => store.create('nodes', n, seedNode(n, i, registry.timestamp())));
  return { clock, store, registry, hub };
}

interface Recorded {
  events: WatchEvent[];
  ended: boolean;
  destroyed: boolean;
}

function sink(): Recorded & { write(e: WatchEvent): void; end(): void; destroy(): void } {
  const r = {
    events: [] as WatchEvent[],
    ended: false,
    destroyed: false,
    write(e: WatchEvent) {
      r.events.push(structuredClone(e));
    },
    end() {
      r.ended = true;
    },
    destroy() {
      r.destroyed = true;
    },
  };
  return r;
}

const nodeSpec = (registry: Registry, extra: Partial<WatchSpec> & { labelSelector?: string; fieldSelector?: string } = {}): WatchSpec => {
  const { labelSelector, fieldSelector, ...rest } = extra;
  return {
    storage: 'nodes',
    matches: registry.matcher(NODES, undefined, labelSelector, fieldSelector),
    toExternal: (o) => NODES.toExternal(o),
    apiVersion: 'v1',
    kind: 'Node',
    ...rest,
  };
};

const names = (events: WatchEvent[]) => events.map((e) => `${e.type} ${String((e.object.metadata as JsonObject | undefined)?.name ?? (e.object.metadata as JsonObject | undefined)?.resourceVersion)}`);
const rvOf = (o: KubeObject) => (o.metadata as JsonObject).resourceVersion as string;
const labelsOf = (o: KubeObject) => (o.metadata as JsonObject).labels as Record<string, string>;

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('store', () => {
  it('bumps one global resourceVersion on every write, across resources', () => {
    const { store } = setup();
    expect(store.resourceVersion).toBe(102);
    const n = store.get('nodes', 'n1')!;
    expect(rvOf(n)).toBe('101');
    store.update('nodes', 'n1', n);
    store.create('events', 'default/e1', { metadata: { name: 'e1', namespace: 'default' } });
    expect(store.resourceVersion).toBe(104);
    expect(rvOf(store.get('events', 'default/e1')!)).toBe('104');
  });

  it('returns copies: callers cannot change stored objects', () => {
    const { store } = setup();
    const n = store.get('nodes', 'n1')!;
    labelsOf(n).x = 'y';
    expect(labelsOf(store.get('nodes', 'n1')!).x).toBeUndefined();
  });

  it('lists at an older resourceVersion from history, and compacts beyond the limit', () => {
    const { store } = setup({ historyLimit: 3 });
    const n1 = store.get('nodes', 'n1')!;
    labelsOf(n1).v = '1';
    store.update('nodes', 'n1', n1); // 103
    store.delete('nodes', 'n2'); // 104
    expect(store.listAt('nodes', 102).map((o) => labelsOf(o).v ?? '-')).toEqual(['-', '-']);
    expect(store.listAt('nodes', 103).map(rvOf)).toEqual(['103', '102']);
    expect(store.listAt('nodes', 104).map(rvOf)).toEqual(['103']);
    expect(store.compactedResourceVersion).toBe(101);
    expect(store.changesAfter(100)).toBeUndefined();
    expect(store.changesAfter(101)!.map((c) => c.rv)).toEqual([102, 103, 104]);
    expect(() => store.listAt('nodes', 100)).toThrow(ApiError);
  });
});

describe('watch', () => {
  it('without a resourceVersion sends current objects as ADDED, then changes', () => {
    const { store, registry, hub } = setup();
    const s = sink();
    hub.start(nodeSpec(registry), s);
    expect(names(s.events)).toEqual(['ADDED n1', 'ADDED n2']);
    registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { a: 'b' } } });
    store.delete('nodes', 'n2');
    expect(names(s.events)).toEqual(['ADDED n1', 'ADDED n2', 'MODIFIED n1', 'DELETED n2']);
    expect(rvOf(s.events[3]!.object)).toBe('104');
  });

  it('resourceVersion "0" is the same as none', () => {
    const { registry, hub } = setup();
    const s = sink();
    hub.start(nodeSpec(registry, { resourceVersion: '0' }), s);
    expect(names(s.events)).toEqual(['ADDED n1', 'ADDED n2']);
  });

  it('from a resourceVersion replays only later changes', () => {
    const { store, registry, hub } = setup();
    const rv = store.resourceVersion;
    registry.patch(NODES, undefined, 'n2', undefined, 'application/merge-patch+json', { metadata: { labels: { a: 'b' } } });
    const s = sink();
    hub.start(nodeSpec(registry, { resourceVersion: String(rv) }), s);
    expect(names(s.events)).toEqual(['MODIFIED n2']);
    expect(s.ended).toBe(false);
  });

  it('from a compacted resourceVersion sends one ERROR 410 Expired and ends', () => {
    const { store, registry, hub } = setup({ historyLimit: 2 });
    for (let i = 0; i < 3; i++) registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { i: String(i) } } });
    const s = sink();
    hub.start(nodeSpec(registry, { resourceVersion: '101' }), s);
    expect(s.events).toHaveLength(1);
    expect(s.events[0]!.type).toBe('ERROR');
    expect(s.events[0]!.object).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
    expect(String(s.events[0]!.object.message)).toMatch(/^too old resource version: 101 \(\d+\)$/);
    expect(s.ended).toBe(true);
    expect(hub.active).toBe(0);
    void store;
  });

  it('selectors see transitions: ADDED when an object starts matching, DELETED when it stops', () => {
    const { registry, hub } = setup();
    const s = sink();
    hub.start(nodeSpec(registry, { labelSelector: 'role=edge' }), s);
    expect(s.events).toEqual([]);
    const p = (labels: JsonObject) => registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels } });
    p({ role: 'edge' });
    p({ other: 'x' });
    p({ role: 'core' });
    p({ unrelated: 'y' });
    expect(names(s.events)).toEqual(['ADDED n1', 'MODIFIED n1', 'DELETED n1']);
    const deleted = s.events[2]!.object;
    expect(labelsOf(deleted).role).toBe('edge');
    expect(rvOf(deleted)).toBe('105');
  });

  it('field selector on metadata.name', () => {
    const { registry, hub } = setup();
    const s = sink();
    hub.start(nodeSpec(registry, { fieldSelector: 'metadata.name=n2' }), s);
    registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { a: 'b' } } });
    expect(names(s.events)).toEqual(['ADDED n2']);
  });

  it('sends bookmarks with only the resourceVersion when allowed', async () => {
    const { clock, store, registry, hub } = setup({ bookmarkIntervalMs: 1000 });
    const s = sink();
    const h = hub.start(nodeSpec(registry, { resourceVersion: String(store.resourceVersion), allowBookmarks: true }), s);
    await clock.advance(1000);
    registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { a: 'b' } } });
    await clock.advance(1000);
    expect(s.events.map((e) => e.type)).toEqual(['BOOKMARK', 'MODIFIED', 'BOOKMARK']);
    expect(s.events[0]!.object).toEqual({ kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: '102' } });
    expect(s.events[2]!.object).toEqual({ kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: '103' } });
    h.close();
    expect(clock.pending()).toBe(0);
  });

  it('sendInitialEvents ends the initial state with an annotated bookmark', () => {
    const { store, registry, hub } = setup();
    const s = sink();
    hub.start(nodeSpec(registry, { resourceVersion: '', sendInitialEvents: true, allowBookmarks: true }), s);
    expect(s.events.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'BOOKMARK']);
    expect(s.events[2]!.object.metadata).toEqual({ resourceVersion: String(store.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } });
  });

  it('ends the stream when timeoutSeconds runs out', async () => {
    const { clock, registry, hub } = setup();
    const s = sink();
    hub.start(nodeSpec(registry, { timeoutMs: 5000 }), s);
    await clock.advance(4999);
    expect(s.ended).toBe(false);
    await clock.advance(1);
    expect(s.ended).toBe(true);
    expect(hub.active).toBe(0);
  });

  it('drops the connection after K events or T ms when a fault says so', async () => {
    const { clock, registry, hub } = setup();
    const a = sink();
    hub.start(nodeSpec(registry, { dropAfterEvents: 1 }), a);
    expect(a.events).toHaveLength(1);
    expect(a.destroyed).toBe(true);
    const b = sink();
    hub.start(nodeSpec(registry, { dropAfterMs: 200, dropMode: 'end' }), b);
    await clock.advance(200);
    expect(b.ended).toBe(true);
    expect(b.destroyed).toBe(false);
  });

  it('closeAll ends every session', () => {
    const { registry, hub } = setup();
    const a = sink();
    const b = sink();
    hub.start(nodeSpec(registry), a);
    hub.start(nodeSpec(registry), b);
    hub.closeAll();
    expect([a.ended, b.ended, hub.active]).toEqual([true, true, 0]);
  });
});

describe('registry', () => {
  it('update with a stale resourceVersion is a 409 Conflict; without one it is unconditional', () => {
    const { registry } = setup();
    const n = registry.get(NODES, undefined, 'n1');
    const stale = structuredClone(n);
    labelsOf(n).a = '1';
    registry.update(NODES, undefined, 'n1', undefined, n);
    labelsOf(stale).a = '2';
    const err = apiError(() => registry.update(NODES, undefined, 'n1', undefined, stale));
    expect(err.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Operation cannot be fulfilled on nodes "n1": the object has been modified; please apply your changes to the latest version and try again',
      reason: 'Conflict',
      details: { name: 'n1', kind: 'nodes' },
      code: 409,
    });
    delete (stale.metadata as JsonObject).resourceVersion;
    expect(labelsOf(registry.update(NODES, undefined, 'n1', undefined, stale).object).a).toBe('2');
  });

  it('a resourceVersion inside a merge or strategic patch is a precondition', () => {
    const { registry, store } = setup();
    const rv = String(store.resourceVersion - 1);
    registry.patch(NODES, undefined, 'n2', undefined, 'application/merge-patch+json', { metadata: { labels: { a: '1' } } });
    for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      const err = apiError(() => registry.patch(NODES, undefined, 'n1', undefined, type, { metadata: { resourceVersion: '1', labels: { a: '1' } } }));
      expect(err.code).toBe(409);
    }
    const ok = registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { resourceVersion: rv, labels: { a: '1' } } });
    expect(labelsOf(ok.object).a).toBe('1');
  });

  it('a write that changes nothing does not bump the resourceVersion', () => {
    const { registry, store } = setup();
    const before = store.resourceVersion;
    const r = registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { 'kubernetes.io/os': 'linux' } } });
    expect(store.resourceVersion).toBe(before);
    expect(rvOf(r.object)).toBe('101');
  });

  it.each([
    [{ 'bad key': 'v' }, 'metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters'],
    [{ k: 'bad value' }, 'metadata.labels: Invalid value: "bad value": a valid label must be an empty string'],
    [{ ['x'.repeat(64)]: 'v' }, 'name part must be no more than 63 characters'],
    [{ k: 'v'.repeat(64) }, 'must be no more than 63 characters'],
    [{ 'Upper.Case/k': 'v' }, 'prefix part a lowercase RFC 1123 subdomain'],
    [{ 'a/b/c': 'v' }, 'a qualified name must consist of'],
    [{ '/k': 'v' }, 'prefix part must be non-empty'],
  ])('rejects labels %j with 422 Invalid', (labels, message) => {
    const { registry, store } = setup();
    const before = store.resourceVersion;
    const err = apiError(() => registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels } }));
    expect(err.code).toBe(422);
    expect(err.status.reason).toBe('Invalid');
    expect(err.status.message).toContain('Node "n1" is invalid: ');
    expect(err.status.message).toContain(message);
    expect(err.status.details).toMatchObject({ name: 'n1', kind: 'Node', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.labels' }] });
    expect(store.resourceVersion).toBe(before);
  });

  it('accepts the label shapes the apiserver accepts', () => {
    const { registry } = setup();
    const labels = { 'example.com/x': '', 'a.b-c_d': 'V.1-2_3', [`${'p'.repeat(253)}/n`]: 'x', ['n'.repeat(63)]: 'v'.repeat(63) };
    const r = registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels } });
    expect(labelsOf(r.object)).toMatchObject(labels);
  });

  it('rejects non-string label values with 400', () => {
    const { registry } = setup();
    expect(apiError(() => registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { a: 1 } } })).code).toBe(400);
  });

  it('writes to the main resource cannot change status; writes to /status cannot change spec', () => {
    const { registry } = setup();
    const r1 = registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { spec: { unschedulable: true }, status: { phase: 'X' } });
    expect((r1.object.spec as JsonObject).unschedulable).toBe(true);
    expect((r1.object.status as JsonObject).phase).toBeUndefined();
    const r2 = registry.patch(NODES, undefined, 'n1', 'status', 'application/merge-patch+json', { spec: { unschedulable: false }, status: { phase: 'Running' } });
    expect((r2.object.spec as JsonObject).unschedulable).toBe(true);
    expect((r2.object.status as JsonObject).phase).toBe('Running');
  });

  it('create: 201, uid and creationTimestamp set, 409 AlreadyExists, generateName, no resourceVersion allowed', () => {
    const { registry } = setup();
    const r = registry.create(NODES, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n3' } });
    expect(r.code).toBe(201);
    expect(r.object.metadata).toMatchObject({ name: 'n3', uid: expect.any(String), creationTimestamp: '2025-05-01T12:00:00Z', resourceVersion: '103' });
    const dup = apiError(() => registry.create(NODES, undefined, { metadata: { name: 'n3' } }));
    expect(dup.status).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'nodes "n3" already exists', details: { name: 'n3', kind: 'nodes' } });
    const g = registry.create(NODES, undefined, { metadata: { generateName: 'pool-' } });
    expect(String((g.object.metadata as JsonObject).name)).toMatch(/^pool-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(apiError(() => registry.create(NODES, undefined, { metadata: { name: 'n4', resourceVersion: '5' } })).code).toBe(500);
    expect(apiError(() => registry.create(NODES, undefined, { metadata: { name: 'Bad_Name' } })).code).toBe(422);
  });

  it('get and delete of a missing object are 404 NotFound Status objects', () => {
    const { registry } = setup();
    const err = apiError(() => registry.get(NODES, undefined, 'nope'));
    expect(err.status).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'nodes "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'nodes' },
      code: 404,
    });
    expect(apiError(() => registry.delete(NODES, undefined, 'nope', undefined)).code).toBe(404);
  });

  it('delete answers a Success Status; finalizers hold the object until they are removed', () => {
    const { registry, store } = setup();
    const d = registry.delete(NODES, undefined, 'n2', undefined);
    expect(d.object).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'n2', kind: 'nodes' } });
    expect(store.has('nodes', 'n2')).toBe(false);
    registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { finalizers: ['example.com/hold'] } });
    const held = registry.delete(NODES, undefined, 'n1', undefined);
    expect((held.object.metadata as JsonObject).deletionTimestamp).toBe('2025-05-01T12:00:00Z');
    expect(store.has('nodes', 'n1')).toBe(true);
    registry.patch(NODES, undefined, 'n1', undefined, 'application/json-patch+json', [{ op: 'remove', path: '/metadata/finalizers' }]);
    expect(store.has('nodes', 'n1')).toBe(false);
  });

  it('delete preconditions', () => {
    const { registry } = setup();
    const err = apiError(() => registry.delete(NODES, undefined, 'n1', { preconditions: { uid: 'other' } }));
    expect(err.code).toBe(409);
    expect(err.status.message).toContain('Precondition failed: UID in precondition: other');
  });

  it('JSON patch failures are 422, malformed patches 400, unknown patch types 415', () => {
    const { registry } = setup();
    const p = (type: string, body: unknown) => apiError(() => registry.patch(NODES, undefined, 'n1', undefined, type, body));
    expect(p('application/json-patch+json', [{ op: 'test', path: '/metadata/name', value: 'x' }]).code).toBe(422);
    expect(p('application/json-patch+json', { not: 'a list' }).code).toBe(400);
    expect(p('application/apply-patch+yaml', {}).code).toBe(415);
    expect(p('application/json', {}).status.reason).toBe('UnsupportedMediaType');
  });

  it('dryRun computes the answer without storing it', () => {
    const { registry, store } = setup();
    const before = store.resourceVersion;
    const r = registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { metadata: { labels: { d: 'r' } } }, { dryRun: true });
    expect(labelsOf(r.object).d).toBe('r');
    expect(labelsOf(store.get('nodes', 'n1')!).d).toBeUndefined();
    expect(store.resourceVersion).toBe(before);
  });

  it('unknown fields: dropped with a warning, or 400 under fieldValidation=Strict', () => {
    const { registry } = setup();
    const r = registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { spec: { bogus: 1 } });
    expect(r.warnings).toEqual(['unknown field "spec.bogus"']);
    expect((r.object.spec as JsonObject).bogus).toBeUndefined();
    const err = apiError(() => registry.patch(NODES, undefined, 'n1', undefined, 'application/merge-patch+json', { spec: { bogus: 1 } }, { fieldValidation: 'Strict' }));
    expect(err.status.message).toBe('strict decoding error: unknown field "spec.bogus"');
  });

  it('paginates with limit/continue over a consistent snapshot', () => {
    const { registry } = setup({ nodes: ['a', 'b', 'c', 'd', 'e'] });
    const p1 = registry.list(NODES, undefined, { limit: 2 });
    expect(p1.items.map((o) => (o.metadata as JsonObject).name)).toEqual(['a', 'b']);
    expect(p1.remainingItemCount).toBe(3);
    registry.delete(NODES, undefined, 'c', undefined);
    registry.create(NODES, undefined, { metadata: { name: 'bb' } });
    const p2 = registry.list(NODES, undefined, { limit: 2, continue: p1.continue! });
    expect(p2.items.map((o) => (o.metadata as JsonObject).name)).toEqual(['c', 'd']);
    expect(p2.resourceVersion).toBe(p1.resourceVersion);
    const p3 = registry.list(NODES, undefined, { limit: 2, continue: p2.continue! });
    expect(p3.items.map((o) => (o.metadata as JsonObject).name)).toEqual(['e']);
    expect(p3.continue).toBeUndefined();
    expect(apiError(() => registry.list(NODES, undefined, { continue: 'garbage' })).code).toBe(400);
  });

  it('lists with label and field selectors; unknown field labels are 400', () => {
    const { registry } = setup({ nodes: ['a', 'b', 'c'] });
    registry.patch(NODES, undefined, 'b', undefined, 'application/merge-patch+json', { metadata: { labels: { pool: 'x' } } });
    expect(registry.list(NODES, undefined, { labelSelector: 'pool=x' }).items).toHaveLength(1);
    expect(registry.list(NODES, undefined, { labelSelector: '!pool' }).items).toHaveLength(2);
    expect(registry.list(NODES, undefined, { fieldSelector: 'metadata.name!=a' }).items).toHaveLength(2);
    expect(apiError(() => registry.list(NODES, undefined, { fieldSelector: 'spec.bogus=1' })).status.message).toBe('field label not supported: spec.bogus');
    expect(apiError(() => registry.list(NODES, undefined, { labelSelector: 'a in (' })).code).toBe(400);
  });

  it('events: one storage, core v1 and events.k8s.io/v1 shapes', () => {
    const { registry, store } = setup();
    const core = registry.create(CORE_EVENTS, 'default', {
      metadata: { name: 'n1.1' },
      involvedObject: { kind: 'Node', name: 'n1', uid: 'n1' },
      reason: 'Labeled',
      message: 'labels changed',
      type: 'Normal',
      source: { component: 'imds-labeler' },
      count: 1,
    });
    expect(core.object).toMatchObject({ kind: 'Event', apiVersion: 'v1', eventTime: null, reportingComponent: '', reportingInstance: '', firstTimestamp: null });
    const v1 = registry.get(EVENTS_V1, 'default', 'n1.1');
    expect(v1).toMatchObject({ apiVersion: 'events.k8s.io/v1', regarding: { kind: 'Node', name: 'n1' }, note: 'labels changed', deprecatedCount: 1, deprecatedSource: { component: 'imds-labeler' } });
    const created = registry.create(EVENTS_V1, 'default', {
      metadata: { name: 'n1.2' },
      eventTime: '2025-05-01T12:00:00.000000Z',
      reportingController: 'example.com/labeler',
      reportingInstance: 'labeler-n1',
      action: 'Label',
      reason: 'Labeled',
      regarding: { kind: 'Node', name: 'n1' },
      note: 'x',
      type: 'Normal',
    });
    expect(created.code).toBe(201);
    const stored = store.get('events', 'default/n1.2')!;
    expect(stored).toMatchObject({ apiVersion: 'v1', reportingComponent: 'example.com/labeler', message: 'x', involvedObject: { name: 'n1' } });
    const patched = registry.patch(EVENTS_V1, 'default', 'n1.2', undefined, 'application/merge-patch+json', { series: { count: 2, lastObservedTime: '2025-05-01T12:01:00.000000Z' } });
    expect(patched.object).toMatchObject({ series: { count: 2 } });
    const bad = apiError(() => registry.create(EVENTS_V1, 'default', { metadata: { name: 'n1.3' }, type: 'Normal' }));
    expect(bad.code).toBe(422);
    expect(bad.status.message).toContain('eventTime: Required value');
    const wrongNs = apiError(() => registry.create(CORE_EVENTS, 'other', { metadata: { name: 'x' }, involvedObject: { kind: 'Node', name: 'n1' } }));
    expect(wrongNs.status.message).toContain('involvedObject.namespace: Invalid value: "": does not match event.namespace');
    expect(registry.list(CORE_EVENTS, 'default', { fieldSelector: 'involvedObject.name=n1,reason=Labeled' }).items).toHaveLength(2);
    expect(registry.list(EVENTS_V1, undefined, { fieldSelector: 'regarding.name=n1,reportingController=example.com/labeler' }).items).toHaveLength(1);
  });
});
