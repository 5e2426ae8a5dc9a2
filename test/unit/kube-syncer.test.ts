import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { KubeError } from '../../src/kube/errors.ts';
import { runNodeWatch } from '../../src/kube/nodeWatch.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { NodeSyncer } from '../../src/kube/syncer.ts';
import { nodeKeys } from '../../src/keys/keys.ts';
import type { MetadataPatch } from '../../src/kube/types.ts';
import { MAINTENANCE_OFF, unknownMaintenance, type Maintenance } from '../../src/mapping/maintenance.ts';
import { Writable } from 'node:stream';
import { createLogger, silentLogger, type Logger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';
import { MemoryNodeClient } from '../helpers/memoryNodeClient.ts';
import { metricSum } from '../helpers/metrics.ts';

const labels = configSchema.parse({}).labels;

/** A logger that keeps its records, for tests that read what was logged. */
function recordingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', format: 'json', destination }), records };
}

function setup(options: { dryRun?: boolean; logger?: Logger } = {}, prepare: (client: MemoryNodeClient) => void = (c) => c.put({ name: 'n1', labels: {}, annotations: {} })) {
  const client = new MemoryNodeClient();
  prepare(client);
  const clock = new FakeClock();
  const controller = new AbortController();
  const metrics = createMetrics({ version: 'test' });
  const syncer = new NodeSyncer({
    client,
    nodeName: 'n1',
    policy: reconcilePolicy(labels),
    clock,
    random: () => 0.5,
    logger: options.logger ?? silentLogger(),
    metrics,
    dryRun: options.dryRun ?? false,
    events: true,
    signal: controller.signal,
  });
  const watch = runNodeWatch({
    client,
    name: 'n1',
    watchTimeoutMs: 300_000,
    clock,
    random: () => 0.5,
    signal: controller.signal,
    logger: silentLogger(),
    metrics,
    onNode: (n) => syncer.setObserved(n),
  });
  return { client, clock, controller, syncer, metrics, watch };
}

const desired = (l: Record<string, string>) => ({ labels: l, annotations: {}, skipped: [] });

describe('node syncer with the node watch', () => {
  it('does nothing until IMDS has answered once, so an outage at start never strips labels', async () => {
    const t = setup({}, (c) => c.put({ name: 'n1', labels: { 'imds-labeler.io/zone': '1' }, annotations: { 'imds-labeler.io/owned-labels': 'imds-labeler.io/zone' } }));
    await flush();
    await t.clock.advance(60_000);
    expect(t.client.calls.patch).toBe(0);
    expect(t.client.nodes.get('n1')!.labels['imds-labeler.io/zone']).toBe('1');
    t.controller.abort();
    await t.watch;
  });

  it('writes once, then nothing while nothing changes', async () => {
    const t = setup();
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.calls.patch).toBe(1);
    for (let i = 0; i < 50; i++) {
      t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
      t.syncer.resync();
      await flush(2);
    }
    await flush();
    expect(t.client.calls.patch).toBe(1);
    expect(t.client.events.map((e) => e.event.reason)).toEqual(['LabelsUpdated']);
    expect(t.syncer.synced).toBe(true);
    t.controller.abort();
    await t.watch;
  });

  it('restores a label changed by hand, seen through the watch', async () => {
    const t = setup();
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    const n = t.client.nodes.get('n1')!;
    t.client.put({ ...n, labels: { ...n.labels, 'imds-labeler.io/zone': '9', 'team': 'a' } });
    await flush();
    expect(t.client.nodes.get('n1')!.labels).toEqual({ 'imds-labeler.io/zone': '1', team: 'a' });
    expect(t.client.calls.patch).toBe(2);
    t.controller.abort();
    await t.watch;
  });

  it('re-reads and retries after a conflict, without losing the other writer\'s change', async () => {
    const t = setup();
    t.client.failures.patch.push(new KubeError('conflict', 'conflict', 409), new KubeError('conflict', 'conflict', 409));
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.calls.patch).toBe(3);
    expect(t.client.nodes.get('n1')!.labels['imds-labeler.io/zone']).toBe('1');
    t.controller.abort();
    await t.watch;
  });

  it('backs off on 429 honouring Retry-After, then succeeds', async () => {
    const t = setup();
    t.client.failures.patch.push(new KubeError('throttled', 'slow down', 429, 5_000));
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.calls.patch).toBe(1);
    await t.clock.advance(4_000);
    expect(t.client.calls.patch).toBe(1);
    await t.clock.advance(1_000);
    expect(t.client.calls.patch).toBe(2);
    expect(t.client.nodes.get('n1')!.labels['imds-labeler.io/zone']).toBe('1');
    t.controller.abort();
    await t.watch;
  });

  it.each([
    {
      who: 'IMDS answers that change on every poll',
      churn: (t: ReturnType<typeof setup>, i: number) => t.syncer.setDesired(desired({ 'imds-labeler.io/zone': String(i) })),
      cause: 'imds',
      says: /IMDS metadata keeps changing/,
    },
    {
      who: 'another writer undoing every patch',
      churn: (t: ReturnType<typeof setup>) => {
        const n = t.client.nodes.get('n1')!;
        t.client.put({ ...n, labels: { ...n.labels, 'imds-labeler.io/zone': 'theirs' } });
      },
      cause: 'other-writer',
      says: /undone by another writer/,
    },
  ])('pacing names its cause: $who', async ({ churn, cause, says }) => {
    const { logger, records } = recordingLogger();
    const t = setup({ logger });
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '0' }));
    await flush();
    for (let i = 1; i <= 8; i++) {
      churn(t, i);
      await flush();
    }
    const pacing = records.filter((r) => String(r.msg).includes('pacing'));
    expect(pacing.map((r) => [r.cause, r.level])).toEqual([[cause, 'warn']]);
    expect(String(pacing[0]!.msg)).toMatch(says);
    expect(t.client.calls.patch).toBe(5);
    t.controller.abort();
    await t.watch;
  });

  it('labels a node deleted and re-created', async () => {
    const t = setup();
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    t.client.remove('n1');
    await flush();
    t.client.put({ name: 'n1', uid: 'new-uid', labels: { 'kubernetes.io/hostname': 'n1' }, annotations: {} });
    await flush();
    expect(t.client.nodes.get('n1')!.labels).toEqual({ 'kubernetes.io/hostname': 'n1', 'imds-labeler.io/zone': '1' });
    t.controller.abort();
    await t.watch;
  });

  it('dry run computes the change and writes nothing', async () => {
    const t = setup({ dryRun: true });
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.calls.patch).toBe(0);
    expect(t.syncer.lastOutcome).toBe('dry_run');
    t.controller.abort();
    await t.watch;
  });
});

describe('node watch', () => {
  it('re-watches from the last version on a clean close, and re-lists only on 410', async () => {
    const t = setup();
    await flush();
    expect(t.client.calls).toMatchObject({ list: 1, watch: 1 });
    t.client.closeWatches();
    await flush();
    expect(t.client.calls).toMatchObject({ list: 1, watch: 2 });
    t.client.closeWatches({ reason: 'gone' });
    await t.clock.advance(1_000);
    expect(t.client.calls).toMatchObject({ list: 2, watch: 3 });
    t.controller.abort();
    await t.watch;
  });

  it('backs off when the API is unreachable, and recovers', async () => {
    const down = () => new KubeError('network', 'ECONNREFUSED');
    const t = setup({}, (c) => {
      c.put({ name: 'n1', labels: {}, annotations: {} });
      c.failures.list.push(down(), down(), down());
    });
    await flush();
    expect(t.client.calls.list).toBe(1);
    await t.clock.advance(60_000);
    expect(t.client.calls.list).toBe(4);
    expect(t.client.openWatches()).toBe(1);
    t.controller.abort();
    await t.watch;
  });

  it('a 429 asking for 30 days is honoured for 5 minutes at most, never turned into a hot loop', async () => {
    // 2,592,000 s is past Node's longest timer: left as it was, the wait would last 1 ms.
    const month = () => new KubeError('throttled', 'slow down', 429, 2_592_000_000);
    const t = setup({}, (c) => {
      c.put({ name: 'n1', labels: {}, annotations: {} });
      for (let i = 0; i < 50; i++) c.failures.list.push(month());
    });
    await flush();
    expect(t.client.calls.list).toBe(1);
    await t.clock.advance(300_000 - 1);
    expect(t.client.calls.list).toBe(1);
    await t.clock.advance(1);
    expect(t.client.calls.list).toBe(2);
    await t.clock.advance(3_600_000 - 300_000);
    expect(t.client.calls.list).toBe(13);
    t.controller.abort();
    await t.watch;
  });

  it('the watchdog restarts a watch that outlives its timeout', async () => {
    const t = setup();
    await flush();
    // random 0.5 → timeout 450 s; the watchdog allows 30 s more.
    await t.clock.advance(479_000);
    expect(t.client.calls.watch).toBe(1);
    await t.clock.advance(2_000);
    expect(t.client.calls.watch).toBe(2);
    expect(await t.metrics.watchRestarts.get()).toMatchObject({ values: [{ labels: { reason: 'watchdog' }, value: 1 }] });
    t.controller.abort();
    await t.watch;
  });
});

describe('node syncer: annotations that do not fit the node', () => {
  const TAGS = 'imds-labeler.io/tags';
  const withTags = { labels: { 'imds-labeler.io/zone': '1' }, annotations: { [TAGS]: `[${'"x",'.repeat(2_000)}"x"]` }, skipped: [] };
  // Another writer's annotations, just under the API server's 256 KiB total.
  const crowded = (c: MemoryNodeClient) => c.put({ name: 'n1', labels: {}, annotations: { 'example.com/big': 'b'.repeat(256 * 1024 - 2_000) } });

  it.each([
    ['seen before sending: the labels go without the tags annotation', [] as KubeError[], 1],
    ['answered 422 by the API server: sent again without it', [new KubeError('invalid', 'Kubernetes API answered 422: metadata.annotations: Too long: must have at most 262144 bytes', 422)], 2],
  ])('%s', async (_name, failures, patches) => {
    const t = setup({}, (c) => {
      if (failures.length) c.put({ name: 'n1', labels: {}, annotations: {} });
      else crowded(c);
      c.failures.patch.push(...failures);
    });
    t.syncer.setDesired(withTags);
    await flush();
    const node = t.client.nodes.get('n1')!;
    expect(node.labels['imds-labeler.io/zone']).toBe('1');
    expect(node.annotations[TAGS]).toBeUndefined();
    expect(node.annotations['imds-labeler.io/owned-labels']).toBe('imds-labeler.io/zone');
    expect(t.client.calls.patch).toBe(patches);
    expect(await metricSum(t.metrics.tagsAnnotationDropped)).toBe(1);
    expect(t.client.events.map((e) => e.event.reason)).toEqual(['TagsAnnotationDropped', 'LabelsUpdated']);
    // Steady state: no more writes while nothing changes.
    t.syncer.resync();
    await flush();
    expect(t.client.calls.patch).toBe(patches);
    t.controller.abort();
    await t.watch;
  });

  it('a node with room writes the annotation as usual', async () => {
    const t = setup();
    t.syncer.setDesired(withTags);
    await flush();
    expect(t.client.nodes.get('n1')!.annotations[TAGS]).toBe(withTags.annotations[TAGS]);
    expect(await metricSum(t.metrics.tagsAnnotationDropped)).toBe(0);
    t.controller.abort();
    await t.watch;
  });
});

describe('node syncer: keys another writer set', () => {
  it('counts them as conflicts and never overwrites them', async () => {
    const t = setup({}, (c) => c.put({ name: 'n1', labels: { 'tags.imds-labeler.io/team': 'by-hand' }, annotations: {} }));
    t.syncer.setDesired(desired({ 'tags.imds-labeler.io/team': 'payments', 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.nodes.get('n1')!.labels).toEqual({ 'tags.imds-labeler.io/team': 'by-hand', 'imds-labeler.io/zone': '1' });
    expect(await metricSum(t.metrics.labelConflicts)).toBe(1);
    t.controller.abort();
    await t.watch;
  });
});

describe('node syncer: taints, the maintenance condition and annotation', () => {
  const STARTUP = { key: 'imds-labeler.io/unlabelled', effect: 'NoSchedule' };
  const MAINT = { key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' };
  const CONDITION = 'imds-labeler.io/MaintenanceScheduled';
  const ANNOTATION = 'imds-labeler.io/scheduled-event';
  const FOREIGN = { key: 'CriticalAddonsOnly', value: 'true', effect: 'NoSchedule' };
  const reboot: Maintenance = {
    condition: { status: 'True', reason: 'RebootScheduled', message: 'Reboot Scheduled (event r)' },
    annotations: { [ANNOTATION]: '{"eventId":"r"}' },
    unknownAnnotations: [],
    taint: true,
  };
  const withTaints = (taints: object[]) => (c: MemoryNodeClient) => c.put({ name: 'n1', labels: {}, annotations: {}, taints: taints as never });
  const node = (t: ReturnType<typeof setup>) => t.client.nodes.get('n1')!;

  it('removes the start-up taint in the patch that brings the labels, and keeps the foreign taints', async () => {
    const t = setup({}, withTaints([FOREIGN, STARTUP]));
    t.syncer.setMaintenance(MAINTENANCE_OFF);
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.calls.patch).toBe(1);
    expect(node(t).labels['imds-labeler.io/zone']).toBe('1');
    expect(node(t).taints).toEqual([FOREIGN]);
    expect(t.client.events.map((e) => e.event.message)).toEqual(['added labels imds-labeler.io/zone; removed taints imds-labeler.io/unlabelled']);
    t.controller.abort();
    await t.watch;
  });

  it('a taint someone adds between read and patch survives: the 409 makes the agent recompute from the fresh node', async () => {
    const t = setup({}, withTaints([STARTUP]));
    const patch = t.client.patch.bind(t.client);
    let raced = false;
    t.client.patch = async (name: string, p: MetadataPatch) => {
      if (!raced) {
        raced = true;
        t.client.put({ ...node(t), taints: [...(node(t).taints ?? []), FOREIGN] });
      }
      return patch(name, p);
    };
    t.syncer.setMaintenance(MAINTENANCE_OFF);
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    expect(t.client.calls.patch).toBe(2);
    expect(node(t).taints).toEqual([FOREIGN]);
    t.controller.abort();
    await t.watch;
  });

  it('a pending reboot: one merge patch (annotation, taint), one status patch (condition); the same state again writes nothing', async () => {
    const t = setup({}, withTaints([FOREIGN]));
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    t.syncer.setMaintenance(reboot);
    await flush();
    expect(t.client.calls).toMatchObject({ patch: 1, patchStatus: 1 });
    expect(node(t).taints).toEqual([FOREIGN, MAINT]);
    expect(node(t).annotations[ANNOTATION]).toBe('{"eventId":"r"}');
    expect(node(t).conditions).toEqual([expect.objectContaining({ type: CONDITION, status: 'True', reason: 'RebootScheduled' })]);
    for (let i = 0; i < 20; i++) {
      t.syncer.setMaintenance({ ...reboot });
      t.syncer.resync();
      await t.clock.advance(10_000);
    }
    expect(t.client.calls).toMatchObject({ patch: 1, patchStatus: 1 });
    t.controller.abort();
    await t.watch;
  });

  it('an outage of scheduled events marks the condition Unknown, and keeps the labels, the annotation and the taint', async () => {
    const t = setup({}, withTaints([]));
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    t.syncer.setMaintenance(reboot);
    await flush();
    t.syncer.setMaintenance(unknownMaintenance({ keys: nodeKeys('imds-labeler.io') }));
    await flush();
    expect(t.client.calls).toMatchObject({ patch: 1, patchStatus: 2 });
    expect(node(t).labels['imds-labeler.io/zone']).toBe('1');
    expect(node(t).annotations[ANNOTATION]).toBe('{"eventId":"r"}');
    expect(node(t).annotations['imds-labeler.io/owned-annotations']).toBe(ANNOTATION);
    expect(node(t).taints).toEqual([MAINT]);
    expect(node(t).conditions).toEqual([expect.objectContaining({ type: CONDITION, status: 'Unknown', reason: 'ScheduledEventsUnavailable' })]);
    t.controller.abort();
    await t.watch;
  });

  it('the reboot gone: annotation and taint removed, the condition False', async () => {
    const t = setup({}, withTaints([FOREIGN]));
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    t.syncer.setMaintenance(reboot);
    await flush();
    t.syncer.setMaintenance({ condition: { status: 'False', reason: 'NoMaintenanceScheduled', message: 'no scheduled event for this VM' }, annotations: {}, unknownAnnotations: [], taint: false });
    await flush();
    expect(node(t).taints).toEqual([FOREIGN]);
    expect(node(t).annotations[ANNOTATION]).toBeUndefined();
    expect(node(t).conditions).toEqual([expect.objectContaining({ type: CONDITION, status: 'False' })]);
    t.controller.abort();
    await t.watch;
  });

  it('the feature off with its condition left on the node and no nodes/status rights: one try, a warning, and still ready', async () => {
    const { logger, records } = recordingLogger();
    const t = setup({ logger }, (c) => c.put({ name: 'n1', labels: {}, annotations: {}, conditions: [{ type: CONDITION, status: 'True', reason: 'RebootScheduled' }] }));
    t.client.failures.patchStatus.push(new KubeError('forbidden', 'nodes "n1" is forbidden: cannot patch resource "nodes/status"', 403));
    t.syncer.setMaintenance(MAINTENANCE_OFF);
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    await flush();
    for (let i = 0; i < 5; i++) {
      t.syncer.resync();
      await flush();
    }
    expect(t.client.calls.patchStatus).toBe(1);
    expect(t.syncer.readiness()).toEqual({ ok: true });
    expect(records.filter((r) => String(r.msg).includes('could not remove the maintenance condition'))).toHaveLength(1);
    t.controller.abort();
    await t.watch;
  });

  it('the condition refused while the feature is on: not ready, saying so', async () => {
    const t = setup();
    for (let i = 0; i < 10; i++) t.client.failures.patchStatus.push(new KubeError('forbidden', 'forbidden', 403));
    t.syncer.setDesired(desired({ 'imds-labeler.io/zone': '1' }));
    t.syncer.setMaintenance(reboot);
    await flush();
    expect(t.syncer.readiness().ok).toBe(false);
    expect(t.syncer.refusal).toContain('HTTP 403');
    t.controller.abort();
    await t.watch;
  });

  it('announcements have an Event budget of their own: label churn never swallows a maintenance notice', async () => {
    const t = setup();
    for (let i = 0; i < 8; i++) {
      t.syncer.setDesired(desired({ 'imds-labeler.io/zone': String(i) }));
      await t.clock.advance(5_000);
    }
    expect(t.client.events.filter((e) => e.event.reason === 'LabelsUpdated')).toHaveLength(5);
    t.syncer.announce({ reason: 'MaintenanceScheduled', type: 'Warning', message: 'Reboot Scheduled (event r)' });
    await flush();
    expect(t.client.events.map((e) => e.event.reason)).toContain('MaintenanceScheduled');
    t.controller.abort();
    await t.watch;
  });

  it('announcements made before the node is known are recorded once it is', async () => {
    const t = setup({}, () => undefined);
    t.syncer.announce({ reason: 'MaintenanceScheduled', type: 'Warning', message: 'Reboot Scheduled (event r)' });
    await flush();
    expect(t.client.events).toEqual([]);
    t.client.put({ name: 'n1', labels: {}, annotations: {} });
    await flush();
    expect(t.client.events.map((e) => e.event.reason)).toEqual(['MaintenanceScheduled']);
    t.controller.abort();
    await t.watch;
  });
});
