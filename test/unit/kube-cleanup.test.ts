import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { cleanupNodes } from '../../src/kube/cleanup.ts';
import { KubeError } from '../../src/kube/errors.ts';
import type { NodeClient } from '../../src/kube/nodeClient.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';
import { MemoryNodeClient } from '../helpers/memoryNodeClient.ts';

const policy = reconcilePolicy(configSchema.parse({}).labels);
const OWNED = { 'imds-labeler.io/owned-labels': 'imds-labeler.io/zone' };

function cluster(count: number) {
  const client = new MemoryNodeClient();
  for (let i = 0; i < count; i++) client.put({ name: `n${String(i).padStart(3, '0')}`, labels: { 'imds-labeler.io/zone': '1', other: 'x' }, annotations: { ...OWNED } });
  return client;
}

/** The client with patches of the named nodes answered by the given error. */
function failing(client: MemoryNodeClient, errors: Record<string, KubeError>): NodeClient {
  return {
    list: (o) => client.list(o),
    watch: (...a) => client.watch(...a),
    event: (...a) => client.event(...a),
    patchStatus: (...a) => client.patchStatus(...a),
    patch: async (name, patch) => {
      const error = errors[name];
      if (error) {
        if (error.kind === 'not-found') client.remove(name);
        throw error;
      }
      return client.patch(name, patch);
    },
  };
}

const ours = (client: MemoryNodeClient) => [...client.nodes.values()].filter((n) => 'imds-labeler.io/zone' in n.labels).map((n) => n.name);

describe('cleanupNodes', () => {
  it.each([
    ['every node cleaned', {}, { cleaned: 5, gone: 0, failed: [] }, []],
    ['a node deleted between the list and its patch (404) is skipped, the rest are cleaned', { n001: new KubeError('not-found', 'gone', 404) }, { cleaned: 4, gone: 1, failed: [] }, []],
    [
      'a node that refuses the patch is reported, the rest are cleaned',
      { n002: new KubeError('forbidden', 'Kubernetes API answered 403', 403) },
      { cleaned: 4, gone: 0, failed: [{ node: 'n002', error: 'Kubernetes API answered 403' }] },
      ['n002'],
    ],
  ] as const)('%s', async (_name, errors, expected, left) => {
    const client = cluster(5);
    const summary = await cleanupNodes(failing(client, errors), policy, silentLogger(), { pageSize: 2 });
    expect(summary).toMatchObject({ nodes: 5, unchanged: 0, ...expected });
    expect(ours(client)).toEqual(left);
    for (const node of client.nodes.values()) expect(node.labels.other).toBe('x');
  });

  it('lists a page at a time', async () => {
    const client = cluster(7);
    const summary = await cleanupNodes(client, policy, silentLogger(), { pageSize: 3 });
    expect(summary.cleaned).toBe(7);
    expect(client.calls.list).toBe(3);
  });

  it('lists again from the start when the continue token expired (410), and cleans the rest', async () => {
    const client = cluster(6);
    const real = client.list.bind(client);
    let expired = false;
    client.list = async (o = {}) => {
      if (o.continue && !expired) {
        expired = true;
        throw new KubeError('gone', 'The provided continue parameter is too old', 410);
      }
      return real(o);
    };
    const summary = await cleanupNodes(client, policy, silentLogger(), { pageSize: 2 });
    expect(summary).toMatchObject({ cleaned: 6, unchanged: 2, failed: [] });
    expect(ours(client)).toEqual([]);
  });

  it('retries a transient failure, then goes on', async () => {
    const client = cluster(2);
    client.failures.patch.push(new KubeError('server', 'Kubernetes API answered 503', 503));
    const clock = new FakeClock();
    const run = cleanupNodes(client, policy, silentLogger(), { clock, random: () => 0.5 });
    await flush();
    await clock.advance(1_000);
    const summary = await run;
    expect(summary).toMatchObject({ cleaned: 2, failed: [] });
    expect(client.calls.patch).toBe(3);
  });

  it('takes back the agent\'s taints and condition too, and nothing else of the node', async () => {
    const client = new MemoryNodeClient();
    const foreign = { key: 'CriticalAddonsOnly', value: 'true', effect: 'NoSchedule' };
    client.put({
      name: 'n1',
      labels: { 'imds-labeler.io/zone': '1' },
      annotations: { ...OWNED },
      taints: [{ key: 'imds-labeler.io/unlabelled', effect: 'NoSchedule' }, foreign, { key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' }],
      conditions: [{ type: 'Ready', status: 'True' }, { type: 'imds-labeler.io/MaintenanceScheduled', status: 'True', reason: 'RebootScheduled' }],
    });
    expect(await cleanupNodes(client, policy, silentLogger())).toMatchObject({ cleaned: 1, failed: [] });
    const node = client.nodes.get('n1')!;
    expect(node.taints).toEqual([foreign]);
    expect(node.conditions).toEqual([{ type: 'Ready', status: 'True' }]);
    expect(node.labels).toEqual({});
  });

  it('a condition it may not remove (no nodes/status permission) is a warning, not a failed node', async () => {
    const client = new MemoryNodeClient();
    client.put({ name: 'n1', labels: {}, annotations: {}, conditions: [{ type: 'imds-labeler.io/MaintenanceScheduled', status: 'False' }] });
    client.failures.patchStatus.push(new KubeError('forbidden', 'cannot patch resource "nodes/status"', 403));
    expect(await cleanupNodes(client, policy, silentLogger())).toMatchObject({ cleaned: 1, failed: [] });
    expect(client.calls.patchStatus).toBe(1);
  });
});
