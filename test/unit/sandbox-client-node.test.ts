/**
 * @kubernetes/client-node against the sandbox: what the agent does (list/get/patch nodes, watch,
 * events) must behave as against kube-apiserver, errors included.
 */
import {
  ApiException,
  CoreV1Api,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type CoreV1Event,
  type V1Node,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../testbed/kube-sandbox/index.ts';

let sandbox: Sandbox;
let kc: KubeConfig;
let core: CoreV1Api;

beforeEach(async () => {
  sandbox = await startSandbox({ nodes: ['node-0', 'node-1', 'node-2'] });
  kc = new KubeConfig();
  kc.loadFromString(sandbox.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
});

afterEach(async () => {
  await sandbox.close();
});

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

async function apiException(p: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) return err;
    throw err;
  }
  throw new Error('expected an ApiException');
}

const statusOf = (e: ApiException<unknown>) => (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as Record<string, unknown>;

/** The first `code` in an error's cause chain (ECONNRESET, ECONNREFUSED, ...). */
function errno(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 10; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('nodes through CoreV1Api', () => {
  it('lists and gets nodes with realistic metadata and status', async () => {
    const list = await core.listNode();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(['node-0', 'node-1', 'node-2']);
    expect(list.metadata?.resourceVersion).toBe(sandbox.resourceVersion());
    const n = await core.readNode({ name: 'node-1' });
    expect(n.metadata?.labels).toMatchObject({ 'kubernetes.io/hostname': 'node-1', 'kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': 'amd64' });
    expect(n.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(n.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(n.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.32\./);
  });

  it('lists with label and field selectors, and pages with limit/continue', async () => {
    await core.patchNode({ name: 'node-2', body: { metadata: { labels: { pool: 'b' } } } }, merge);
    expect((await core.listNode({ labelSelector: 'pool=b' })).items.map((n) => n.metadata?.name)).toEqual(['node-2']);
    expect((await core.listNode({ fieldSelector: 'metadata.name=node-1' })).items.map((n) => n.metadata?.name)).toEqual(['node-1']);
    const page = await core.listNode({ limit: 2 });
    expect(page.items).toHaveLength(2);
    expect(page.metadata?.remainingItemCount).toBe(1);
    const rest = await core.listNode({ limit: 2, _continue: page.metadata!._continue! });
    expect(rest.items.map((n) => n.metadata?.name)).toEqual(['node-2']);
  });

  it('404 is an ApiException carrying a NotFound Status', async () => {
    const e = await apiException(core.readNode({ name: 'missing' }));
    expect(e.code).toBe(404);
    expect(statusOf(e)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'nodes "missing" not found',
      reason: 'NotFound',
      details: { name: 'missing', kind: 'nodes' },
      code: 404,
    });
  });

  it('patches labels with merge, strategic and JSON patches', async () => {
    const before = Number(sandbox.resourceVersion());
    const a = await core.patchNode({ name: 'node-0', body: { metadata: { labels: { 'example.com/zone': '1' } } } }, merge);
    expect(a.metadata?.labels?.['example.com/zone']).toBe('1');
    expect(Number(a.metadata?.resourceVersion)).toBe(before + 1);
    const b = await core.patchNode({ name: 'node-0', body: { metadata: { labels: { 'example.com/fd': '0', 'example.com/zone': null } } } }, strategic);
    expect(b.metadata?.labels).toMatchObject({ 'example.com/fd': '0' });
    expect(b.metadata?.labels?.['example.com/zone']).toBeUndefined();
    const c = await core.patchNode(
      {
        name: 'node-0',
        body: [
          { op: 'test', path: '/metadata/labels/example.com~1fd', value: '0' },
          { op: 'replace', path: '/metadata/labels/example.com~1fd', value: '1' },
        ],
      },
      jsonPatch,
    );
    expect(c.metadata?.labels?.['example.com/fd']).toBe('1');
    expect(sandbox.getNode('node-0')?.metadata.labels?.['example.com/fd']).toBe('1');
    expect(sandbox.counters().byVerbResource['patch nodes']).toBe(3);
  });

  it('a patch that changes nothing writes nothing: the resourceVersion stays', async () => {
    const rv = sandbox.resourceVersion();
    const n = await core.patchNode({ name: 'node-0', body: { metadata: { labels: { 'kubernetes.io/os': 'linux' } } } }, merge);
    expect(n.metadata?.resourceVersion).toBe(sandbox.getNode('node-0')?.metadata.resourceVersion);
    expect(sandbox.resourceVersion()).toBe(rv);
  });

  it('an invalid label is a 422 Invalid Status, and nothing is written', async () => {
    const rv = sandbox.resourceVersion();
    const e = await apiException(core.patchNode({ name: 'node-0', body: { metadata: { labels: { 'example.com/zone': 'eastus 1' } } } }, merge));
    expect(e.code).toBe(422);
    expect(statusOf(e)).toMatchObject({ reason: 'Invalid', details: { name: 'node-0', kind: 'Node', causes: [{ reason: 'FieldValueInvalid', field: 'metadata.labels' }] } });
    expect(sandbox.resourceVersion()).toBe(rv);
  });

  it('optimistic concurrency: a stale resourceVersion is a 409 Conflict for replace and for patch', async () => {
    const n = await core.readNode({ name: 'node-1' });
    await core.patchNode({ name: 'node-1', body: { metadata: { labels: { x: '1' } } } }, merge);
    n.metadata!.labels = { ...n.metadata!.labels, y: '2' };
    const e = await apiException(core.replaceNode({ name: 'node-1', body: n }));
    expect(e.code).toBe(409);
    expect(statusOf(e)).toMatchObject({ reason: 'Conflict', details: { name: 'node-1', kind: 'nodes' } });
    const p = await apiException(core.patchNode({ name: 'node-1', body: { metadata: { resourceVersion: n.metadata!.resourceVersion, labels: { y: '2' } } } }, merge));
    expect(p.code).toBe(409);
    const fresh = await core.readNode({ name: 'node-1' });
    fresh.metadata!.labels = { ...fresh.metadata!.labels, y: '2' };
    const ok = await core.replaceNode({ name: 'node-1', body: fresh });
    expect(ok.metadata?.labels).toMatchObject({ x: '1', y: '2' });
  });

  it('create (409 AlreadyExists) and delete (Success Status, then 404)', async () => {
    const body: V1Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-9', labels: { a: 'b' } } };
    const created = await core.createNode({ body });
    expect(created.metadata?.uid).toBeTruthy();
    const dup = await apiException(core.createNode({ body }));
    expect(dup.code).toBe(409);
    expect(statusOf(dup)).toMatchObject({ reason: 'AlreadyExists' });
    const status = await core.deleteNode({ name: 'node-9' });
    expect(status).toMatchObject({ status: 'Success', details: { name: 'node-9', kind: 'nodes' } });
    expect((await apiException(core.deleteNode({ name: 'node-9' }))).code).toBe(404);
  });

  it('a server-side apply patch is refused with 415, as by a server without apply', async () => {
    const e = await apiException(core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: 'b' } } }, fieldManager: 'x' }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply)));
    expect(e.code).toBe(415);
  });
});

describe('watch', () => {
  it('streams ADDED for current nodes, then MODIFIED and DELETED', async () => {
    const seen: string[] = [];
    const watch = new Watch(kc);
    let done: unknown = 'open';
    const ctl = await watch.watch('/api/v1/nodes', {}, (type, obj: V1Node) => seen.push(`${type} ${obj.metadata?.name}`), (err) => (done = err));
    await until(() => seen.length === 3);
    await core.patchNode({ name: 'node-1', body: { metadata: { labels: { w: '1' } } } }, merge);
    sandbox.deleteNode('node-2');
    await until(() => seen.length === 5);
    expect(seen).toEqual(['ADDED node-0', 'ADDED node-1', 'ADDED node-2', 'MODIFIED node-1', 'DELETED node-2']);
    ctl.abort();
    expect(sandbox.counters().byVerbResource['watch nodes']).toBe(1);
    void done;
  });

  it('from a resourceVersion: only later changes, with selectors', async () => {
    const rv = sandbox.resourceVersion();
    await core.patchNode({ name: 'node-0', body: { metadata: { labels: { role: 'edge' } } } }, merge);
    const seen: string[] = [];
    const ctl = await new Watch(kc).watch(
      '/api/v1/nodes',
      { resourceVersion: rv, labelSelector: 'role=edge' },
      (type, obj: V1Node) => seen.push(`${type} ${obj.metadata?.name}`),
      () => {},
    );
    await until(() => seen.length === 1);
    await core.patchNode({ name: 'node-0', body: { metadata: { labels: { role: null } } } }, merge);
    await until(() => seen.length === 2);
    expect(seen).toEqual(['ADDED node-0', 'DELETED node-0']);
    ctl.abort();
  });

  it('a too-old resourceVersion gets an ERROR event with a 410 Expired Status, then the stream ends', async () => {
    await sandbox.close();
    sandbox = await startSandbox({ nodes: ['node-0'], historyLimit: 2 });
    kc.loadFromString(sandbox.kubeconfig());
    core = kc.makeApiClient(CoreV1Api);
    for (let i = 0; i < 3; i++) await core.patchNode({ name: 'node-0', body: { metadata: { labels: { i: String(i) } } } }, merge);
    const events: { type: string; obj: Record<string, unknown> }[] = [];
    let finished = false;
    await new Watch(kc).watch('/api/v1/nodes', { resourceVersion: '1000' }, (type, obj) => events.push({ type, obj }), () => (finished = true));
    await until(() => finished);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'ERROR', obj: { kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 } });
  });

  it('timeoutSeconds: the server ends the stream', async () => {
    let finished: unknown = 'open';
    const started = Date.now();
    await new Watch(kc).watch('/api/v1/nodes', { timeoutSeconds: 1 }, () => {}, (err) => (finished = err));
    await until(() => finished !== 'open', 5000);
    expect(finished).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('allowWatchBookmarks: BOOKMARK events carry only the resourceVersion', async () => {
    await sandbox.close();
    sandbox = await startSandbox({ nodes: ['node-0'], bookmarkIntervalMs: 50 });
    kc.loadFromString(sandbox.kubeconfig());
    const bookmarks: unknown[] = [];
    const ctl = await new Watch(kc).watch('/api/v1/nodes', { allowWatchBookmarks: true, resourceVersion: sandbox.resourceVersion() }, (type, obj) => {
      if (type === 'BOOKMARK') bookmarks.push(obj);
    }, () => {});
    await until(() => bookmarks.length >= 1);
    expect(bookmarks[0]).toEqual({ kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: sandbox.resourceVersion() } });
    ctl.abort();
  });

  it('an informer lists, watches, and relists after a 410', async () => {
    // First watch: cut cleanly after 100 ms. Second watch (from the informer's resourceVersion): one
    // ERROR 410 event, which sends the informer back to a fresh list.
    sandbox.setFaults({
      faults: [
        { verb: 'watch', watchError: 410, skip: 1, times: 1 },
        { verb: 'watch', dropWatch: { afterMs: 100, mode: 'end' }, times: 1 },
      ],
    });
    const informer = makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    const added: string[] = [];
    informer.on('add', (n) => added.push(n.metadata!.name!));
    await informer.start();
    await until(() => added.length === 3);
    await until(() => (sandbox.counters().byVerbResource['list nodes'] ?? 0) === 2);
    await until(() => (sandbox.counters().byVerbResource['watch nodes'] ?? 0) === 3, 10_000);
    sandbox.putNode({ metadata: { name: 'node-3' } });
    await until(() => added.includes('node-3'));
    expect(informer.list().map((n) => n.metadata?.name)).toEqual(['node-0', 'node-1', 'node-2', 'node-3']);
    await informer.stop();
  });
});

describe('events', () => {
  it('core v1 create, patch (merge and strategic) and list', async () => {
    const ev: CoreV1Event = {
      metadata: { name: 'node-0.17a1', namespace: 'default' },
      involvedObject: { kind: 'Node', name: 'node-0', uid: sandbox.getNode('node-0')!.metadata.uid },
      reason: 'LabelsApplied',
      message: 'applied 3 labels',
      type: 'Normal',
      source: { component: 'imds-labeler', host: 'node-0' },
      count: 1,
      firstTimestamp: new Date('2025-05-01T12:00:00Z'),
      lastTimestamp: new Date('2025-05-01T12:00:00Z'),
    };
    const created = await core.createNamespacedEvent({ namespace: 'default', body: ev });
    expect(created.metadata?.uid).toBeTruthy();
    await core.patchNamespacedEvent({ namespace: 'default', name: 'node-0.17a1', body: { count: 2, lastTimestamp: '2025-05-01T12:05:00Z' } }, merge);
    await core.patchNamespacedEvent({ namespace: 'default', name: 'node-0.17a1', body: { count: 3 } }, strategic);
    const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=node-0' });
    expect(list.items).toHaveLength(1);
    expect(list.items[0]!.count).toBe(3);
    expect(sandbox.listEvents()).toHaveLength(1);
    expect(sandbox.counters().byVerbResource).toMatchObject({ 'create events': 1, 'patch events': 2, 'list events': 1 });
  });

  it('events.k8s.io/v1 create and patch, readable through core v1', async () => {
    const events = kc.makeApiClient(EventsV1Api);
    await events.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'node-0.17a2' },
        eventTime: new Date('2025-05-01T12:00:00Z'),
        reportingController: 'example.com/imds-labeler',
        reportingInstance: 'imds-labeler-node-0',
        action: 'Label',
        reason: 'LabelsApplied',
        regarding: { kind: 'Node', name: 'node-0' },
        note: 'applied',
        type: 'Normal',
      },
    });
    await events.patchNamespacedEvent({ namespace: 'default', name: 'node-0.17a2', body: { series: { count: 2, lastObservedTime: '2025-05-01T12:01:00.000000Z' } } }, merge);
    const asCore = await core.readNamespacedEvent({ namespace: 'default', name: 'node-0.17a2' });
    expect(asCore.reportingComponent).toBe('example.com/imds-labeler');
    expect(asCore.message).toBe('applied');
    expect(asCore.series?.count).toBe(2);
    const bad = await apiException(events.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'x' }, eventTime: new Date(), reportingController: 'c', reportingInstance: 'i', action: 'a', reason: 'r', type: 'Weird' } }));
    expect(bad.code).toBe(422);
  });
});

describe('faults', () => {
  it('N× 429 with Retry-After, then normal service', async () => {
    sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', status: 429, retryAfter: 3, times: 2 }] });
    for (let i = 0; i < 2; i++) {
      const e = await apiException(core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: 'b' } } } }, merge));
      expect(e.code).toBe(429);
      expect(e.headers['retry-after']).toBe('3');
      expect(statusOf(e)).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 3 } });
    }
    await core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: 'b' } } } }, merge);
    expect(sandbox.counters().byVerbResource['patch nodes']).toBe(3);
  });

  it('500s, a 409 storm on writes only, and skip', async () => {
    sandbox.setFaults({ faults: [{ verb: 'write', status: 409, times: 2, skip: 1 }, { verb: 'get', status: 500, times: 1 }] });
    expect((await apiException(core.readNode({ name: 'node-0' }))).code).toBe(500);
    await core.readNode({ name: 'node-0' });
    await core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: '1' } } } }, merge);
    const e = await apiException(core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: '2' } } } }, merge));
    expect(statusOf(e)).toMatchObject({ reason: 'Conflict', code: 409 });
    expect((await apiException(core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: '2' } } } }, merge))).code).toBe(409);
    await core.patchNode({ name: 'node-0', body: { metadata: { labels: { a: '2' } } } }, merge);
    expect(sandbox.getNode('node-0')?.metadata.labels?.a).toBe('2');
  });

  it('latency', async () => {
    sandbox.setFaults({ faults: [{ verb: 'list', latencyMs: 300 }] });
    const t = Date.now();
    await core.listNode();
    expect(Date.now() - t).toBeGreaterThanOrEqual(280);
  });

  it('refused connections: reset for a number of connections, then service resumes', async () => {
    sandbox.setFaults({ refuse: { connections: 1 } });
    let err: unknown;
    try {
      await core.listNode();
    } catch (e) {
      err = e;
    }
    expect(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']).toContain(errno(err));
    expect((await core.listNode()).items).toHaveLength(3);
  });

  it('refused connections: listener closed (ECONNREFUSED) for a period', async () => {
    sandbox.setFaults({ refuse: { forMs: 400, mode: 'close' } });
    let err: unknown;
    try {
      await core.listNode();
    } catch (e) {
      err = e;
    }
    expect(errno(err)).toBe('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, 600));
    expect((await core.listNode()).items).toHaveLength(3);
  });

  it('a watch dropped after K events, and a watch answered with 410', async () => {
    sandbox.setFaults({ faults: [{ verb: 'watch', dropWatch: { afterEvents: 2 }, times: 1 }] });
    const seen: string[] = [];
    let done: unknown = 'open';
    await new Watch(kc).watch('/api/v1/nodes', {}, (t) => seen.push(t), (err) => (done = err));
    await until(() => done !== 'open');
    expect(seen).toEqual(['ADDED', 'ADDED']);
    sandbox.setFaults({ faults: [{ verb: 'watch', status: 410, times: 1 }] });
    let err: { statusCode?: number } | undefined;
    await new Watch(kc).watch('/api/v1/nodes', {}, () => {}, (e) => (err = e));
    await until(() => err !== undefined);
    expect(err?.statusCode).toBe(410);
  });

  it('control endpoints over HTTP: counters and faults', async () => {
    await core.listNode();
    const counters = await (await fetch(`${sandbox.url}/_sandbox/counters`)).json();
    expect(counters).toMatchObject({ total: 1, byVerb: { list: 1 }, byVerbResource: { 'list nodes': 1 }, writes: 0 });
    const set = await fetch(`${sandbox.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ faults: [{ verb: 'list', status: 503, times: 1 }] }) });
    expect(set.status).toBe(200);
    expect((await apiException(core.listNode())).code).toBe(503);
    const bad = await fetch(`${sandbox.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify({ faults: [{ verb: 'jump', status: 503 }] }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field: string }).field).toBe('faults[0].verb');
    await fetch(`${sandbox.url}/_sandbox/counters/reset`, { method: 'POST' });
    expect(sandbox.counters().total).toBe(0);
  });
});
