import { describe, expect, it } from 'vitest';
import { startSpreadMs } from '../../src/agent/loops.ts';
import { runAgent } from '../../src/agent/run.ts';
import { configSchema } from '../../src/config/schema.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { parseInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';
import { MemoryNodeClient } from '../helpers/memoryNodeClient.ts';
import { KubeError } from '../../src/kube/errors.ts';

const doc = parseInstanceDocument(builtInFixture('default'));

function start(fetchInstance: (signal: AbortSignal) => Promise<InstanceDocument>) {
  const client = new MemoryNodeClient();
  client.put({ name: 'n1', labels: {}, annotations: {} });
  const clock = new FakeClock();
  const controller = new AbortController();
  let port = 0;
  const config = configSchema.parse({ poll: { period: '60s' }, server: { port: 0, address: '127.0.0.1' } });
  const done = runAgent({
    config,
    nodeName: 'n1',
    nodeClient: client,
    fetchInstance,
    logger: silentLogger(),
    metrics: createMetrics({ version: 'test' }),
    clock,
    random: () => 0.5,
    signal: controller.signal,
    onListening: (p) => (port = p),
  });
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  const body = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();
  return { client, clock, controller, done, get, body, config };
}

describe('agent lifecycle', () => {
  it('is ready after the first sync, and stays live while polls keep answering', async () => {
    let polls = 0;
    const a = start(async () => {
      polls++;
      return doc;
    });
    await flush();
    // The first list waits the start spread (random 0.5: half of it); the first fetch does not.
    await a.clock.advance(startSpreadMs(a.config.poll));
    expect(await a.get('/readyz')).toBe(200);
    expect(await a.get('/healthz')).toBe(200);
    await a.clock.advance(10 * 60_000);
    expect(polls).toBeGreaterThanOrEqual(10);
    expect(await a.get('/healthz')).toBe(200);
    expect(a.client.calls.patch).toBe(1);
    a.controller.abort();
    await a.done;
  });

  it('is not ready before the first sync, and fails liveness when the poll loop is stuck', async () => {
    // A fetch that never answers, but honours abort as the real client does.
    const a = start((signal) => new Promise<InstanceDocument>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))));
    await flush();
    expect(await a.get('/readyz')).toBe(503);
    expect(await a.get('/healthz')).toBe(200);
    // Stuck: no poll result for 3 jittered periods plus the retry budget.
    await a.clock.advance(3 * 72_000 + 70_000 + 1_000);
    expect(await a.get('/healthz')).toBe(503);
    expect(a.client.calls.patch).toBe(0);
    a.controller.abort();
    await a.done;
  });

  it.each([
    [403, 'forbidden'],
    [422, 'invalid'],
  ] as const)('is not ready while its last write was refused with %i, and ready again once a write goes through', async (status, kind) => {
    let current = doc;
    const a = start(async () => current);
    await flush();
    await a.clock.advance(startSpreadMs(a.config.poll));
    expect(await a.get('/readyz')).toBe(200);
    // IMDS changes; the API refuses the patch that follows (RBAC removed, a webhook says no).
    a.client.failures.patch.push(new KubeError(kind, 'refused', status));
    current = { ...doc, compute: { ...doc.compute, vmSize: 'Standard_E8s_v5' } };
    await a.clock.advance(60_000);
    expect(a.client.calls.patch).toBe(2);
    expect(await a.get('/readyz')).toBe(503);
    expect(await a.body('/readyz')).toBe(`not ready: the last node patch was refused (HTTP ${status}, ${kind}); waiting for the next change or resync\n`);
    // The resync tries again, and the API takes it.
    await a.clock.advance(12 * 60_000);
    expect(a.client.calls.patch).toBe(3);
    expect(await a.get('/readyz')).toBe(200);
    a.controller.abort();
    await a.done;
  });

  it('shuts down on abort and leaves the labels in place', async () => {
    const a = start(async () => doc);
    await flush();
    await a.clock.advance(startSpreadMs(a.config.poll));
    const labels = { ...a.client.nodes.get('n1')!.labels };
    expect(Object.keys(labels).length).toBeGreaterThan(5);
    a.controller.abort();
    await a.done;
    expect(a.client.nodes.get('n1')!.labels).toEqual(labels);
    expect(a.client.openWatches()).toBe(0);
  });
});
