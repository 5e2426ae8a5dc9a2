import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceDocument } from '../../src/imds/document.ts';
import type { SandboxNode } from '../../testbed/kube-sandbox/server.ts';
import { agentPart, defaultWire, desiredFor, foreignPart, matchesDesired, nodeMeta, nodeWrites, ownershipProblems, sleep, startInProcessAgent, startWorld, wireWithTags, type InProcessAgent, type World } from './harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The Kubernetes half of the fault matrix, through the real agent loop in process against the
 * sandbox over HTTP: throttling, server errors, conflict storms, cut and expired watches, a
 * refused API server, a node that comes and goes, and other writers on the same node.
 */

let world: World;
let agent: InProcessAgent | undefined;
let seed: SandboxNode;

beforeAll(async () => {
  world = await startWorld({ nodes: ['node-0', 'node-1'] });
  seed = structuredClone(world.sandbox.getNode('node-0')!);
});
afterAll(async () => {
  await world?.close();
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  world.reset();
  // A refuse window of the last test may still hold the listener closed.
  await waitFor('sandbox listening again', () => fetch(`${world.sandbox.url}/healthz`).then((r) => r.status, () => 0), { accept: (s) => s === 200 });
  // Back to the node as the kubelet registered it, without any of the agent's keys.
  const current = world.sandbox.getNode('node-0');
  if (current) world.sandbox.deleteNode('node-0');
  world.sandbox.putNode(freshNode());
});

function freshNode(): SandboxNode {
  const node = structuredClone(seed);
  delete node.metadata.uid;
  delete node.metadata.resourceVersion;
  delete node.metadata.creationTimestamp;
  return node;
}

const desired = (wire: unknown = defaultWire()) => desiredFor(wire, agent!.config);
const converged = (wire: unknown = defaultWire(), what = 'labels match IMDS', timeoutMs = 30_000) =>
  waitFor(what, () => matchesDesired(world.sandbox, desired(wire)), { accept: Boolean, timeoutMs: timeoutMs });

/** A second writer on the node, over the API as kubectl would be. */
async function api(method: string, path: string, body?: unknown, contentType = 'application/merge-patch+json'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${world.sandbox.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': contentType },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Changes an owned label by hand, as `kubectl label --overwrite` would. */
const tamper = () => {
  const node = world.sandbox.getNode('node-0')!;
  world.sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, 'imds-labeler.io/zone': 'tampered' } } });
};

describe('Kubernetes API faults on the patch', () => {
  it('a 409 storm longer than one reconcile pass: converges, every conflict counted', async () => {
    world.sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', status: 409, times: 20 }] });
    agent = await startInProcessAgent(world);
    await converged();
    // The node is converged once the sandbox applies the patch; the agent counts it when the answer arrives.
    await waitFor('the successful patch counted', () => agent!.metric('imds_labeler_node_patches_total', { result: 'success' }), { accept: (n) => (n ?? 0) >= 1 });
    expect(await agent.metric('imds_labeler_node_patches_total', { result: 'conflict' })).toBe(20);
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('429 with Retry-After, then 500s: retried, converges, counted', async () => {
    world.sandbox.setFaults({
      faults: [
        { verb: 'patch', resource: 'nodes', status: 429, retryAfter: 1, times: 2 },
        { verb: 'patch', resource: 'nodes', status: 500, times: 3 },
        { verb: 'patch', resource: 'nodes', status: 503, times: 1 },
      ],
    });
    agent = await startInProcessAgent(world);
    await converged();
    expect(await agent.metric('imds_labeler_node_patches_total', { result: 'error' })).toBe(6);
    expect(await agent.metric('imds_labeler_kube_requests_total', { verb: 'patch', code: '429' })).toBe(2);
    expect(await agent.metric('imds_labeler_kube_requests_total', { verb: 'patch', code: '500' })).toBe(3);
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('a 422 (invalid) is not retried in a loop, and a later change still goes through', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    world.sandbox.resetCounters();
    world.sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', status: 422, times: 1 }] });
    const next = wireWithTags([{ name: 'one', value: '1' }]);
    world.emulator.setFixture(next);
    await waitFor('the refusal logged', () => agent!.logs.some((l) => l.msg === 'node patch refused; waiting for the next change or resync'), { accept: Boolean });
    await sleep(500);
    expect(world.sandbox.counters().byVerbResource['patch nodes']).toBe(1);
    // The resync (5 s here) tries again.
    await converged(next, 'converged after the resync');
  });

  it.each([
    ['an RBAC denial', 403, 'nodes "node-0" is forbidden: User "system:serviceaccount:kube-system:imds-labeler" cannot patch resource "nodes"', /^Kubernetes API answered 403 Forbidden: nodes "node-0" is forbidden: User .* cannot patch resource "nodes" \(reason Forbidden\); check the ClusterRole/],
    ['an admission policy denial quoting the value', 403, 'admission webhook "tags.example.com" denied the request: value "secret-tag-value-7" is not allowed', /^Kubernetes API answered 403 Forbidden: admission webhook "tags\.example\.com" denied the request: value "<redacted>" is not allowed \(reason Forbidden\)/],
    ['a 422 quoting the value', 422, 'a label value must be 63 characters or less', /^Kubernetes API answered 422 Unprocessable Entity: nodes "node-0" is invalid: metadata: Invalid value: "<redacted>": a label value .* \(reason Invalid\)/],
  ])('%s on the patch: the log carries the API server\'s message and reason, never the tag value', async (_what, status, message, logged) => {
    agent = await startInProcessAgent(world);
    await converged();
    world.sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', status, message }] });
    world.emulator.setFixture(wireWithTags([{ name: 'owner', value: 'secret-tag-value-7' }]));
    const line = await waitFor('the refusal logged', () => agent!.logs.find((l) => l.msg === 'node patch refused; waiting for the next change or resync'), { accept: Boolean });
    expect((line!.err as { message: string }).message).toMatch(logged);
    expect(agent!.raw.filter((l) => !/"level":"(debug|trace)"/.test(l)).join('\n')).not.toContain('secret-tag-value-7');
  });
});

describe('Kubernetes API faults on the watch and at start-up', () => {
  it('a watch cut mid-stream: re-listed and re-watched, hand edits are still seen and undone', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    // `refuse` drops the open connections (the current watch with them); the next two watches
    // are cut after their first event.
    world.sandbox.setFaults({ faults: [{ verb: 'watch', resource: 'nodes', dropWatch: { afterEvents: 1, mode: 'reset' }, times: 2 }], refuse: { connections: 1, mode: 'reset' } });
    tamper();
    await waitFor('first edit undone', () => nodeMeta(world.sandbox).labels['imds-labeler.io/zone'], { accept: (v) => v === '1' });
    tamper();
    await waitFor('second edit undone', () => nodeMeta(world.sandbox).labels['imds-labeler.io/zone'], { accept: (v) => v === '1' });
    tamper();
    await waitFor('third edit undone', () => nodeMeta(world.sandbox).labels['imds-labeler.io/zone'], { accept: (v) => v === '1' });
    expect(await agent.metric('imds_labeler_watch_restarts_total', { reason: 'error' })).toBeGreaterThanOrEqual(1);
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('410 Expired on the watch: lists again, and keeps following the node', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    // `refuse` ends the current watch, so the next two start and meet the 410.
    world.sandbox.setFaults({ faults: [{ verb: 'watch', resource: 'nodes', watchError: 410, times: 2 }], refuse: { connections: 1, mode: 'reset' } });
    await waitFor('two 410s on the watch', () => agent!.metric('imds_labeler_watch_restarts_total', { reason: 'gone' }), { accept: (v) => v >= 2 });
    tamper();
    await waitFor('edit undone after the 410s', () => nodeMeta(world.sandbox).labels['imds-labeler.io/zone'], { accept: (v) => v === '1' });
    expect(await agent.metric('imds_labeler_kube_requests_total', { verb: 'list', code: '200' })).toBeGreaterThanOrEqual(3);
  });

  it('connection refused at start-up: keeps trying, then labels the node', async () => {
    world.sandbox.resetCounters();
    world.sandbox.setFaults({ faults: [], refuse: { forMs: 2500, mode: 'close' } });
    agent = await startInProcessAgent(world);
    await waitFor('a refused list', () => agent!.logs.filter((l) => l.msg === 'node list failed').length, { accept: (n) => n >= 1 });
    expect(nodeWrites(world.sandbox)).toBe(0);
    await converged(defaultWire(), 'labels match IMDS', 45_000);
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('connections reset at start-up: keeps trying, then labels the node', async () => {
    world.sandbox.setFaults({ faults: [], refuse: { connections: 4, mode: 'reset' } });
    agent = await startInProcessAgent(world);
    // The list backs off (full jitter, 500 ms doubling, capped at 30 s): allow for an unlucky draw.
    await converged(defaultWire(), 'labels match IMDS', 45_000);
    expect(await agent.metric('imds_labeler_kube_requests_total', { code: 'network' })).toBeGreaterThanOrEqual(1);
  });

  it('the API server refuses for a while when the agent is running: labels kept, and it catches up', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    const before = nodeMeta(world.sandbox);
    world.sandbox.setFaults({ faults: [], refuse: { forMs: 2000, mode: 'close' } });
    const next = wireWithTags([{ name: 'during', value: 'outage' }]);
    world.emulator.setFixture(next);
    await waitFor('the watch noticed', () => agent!.metric('imds_labeler_watch_restarts_total'), { accept: (v) => v >= 1 });
    expect(nodeMeta(world.sandbox).labels).toEqual(before.labels);
    await converged(next, 'converged after the outage');
  });
});

describe('the node itself comes and goes', () => {
  it('a node that does not exist yet: the agent waits, writes nothing, and labels it when it appears', async () => {
    world.sandbox.deleteNode('node-0');
    world.sandbox.resetCounters();
    agent = await startInProcessAgent(world);
    await waitFor('waiting logged', () => agent!.logs.some((l) => l.msg === 'node does not exist (yet); waiting for it'), { accept: Boolean });
    await sleep(1000);
    expect(nodeWrites(world.sandbox)).toBe(0);
    expect(await agent.metric('imds_labeler_node_patches_total')).toBe(0);
    world.sandbox.putNode(freshNode());
    await converged();
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('the node deleted and re-created (new uid, no labels): labeled again', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    const uid = nodeMeta(world.sandbox).uid;
    world.sandbox.deleteNode('node-0');
    await sleep(600);
    expect(nodeMeta(world.sandbox).exists).toBe(false);
    world.sandbox.putNode(freshNode());
    expect(nodeMeta(world.sandbox).uid).not.toBe(uid);
    expect(agentPart(nodeMeta(world.sandbox).labels)).toEqual({});
    await converged(defaultWire(), 'the new node labeled');
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('the node re-created with a higher-numbered resourceVersion history gap: still labeled', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    world.sandbox.deleteNode('node-0');
    // Other cluster activity moves the resourceVersion on.
    for (let i = 0; i < 5; i++) {
      const n1 = world.sandbox.getNode('node-1')!;
      world.sandbox.putNode({ ...n1, metadata: { ...n1.metadata, labels: { ...n1.metadata.labels, churn: String(i) } } });
    }
    world.sandbox.putNode(freshNode());
    await converged(defaultWire(), 'the new node labeled');
  });
});

describe('other writers on the same node', () => {
  it('no lost update in either direction: merge patches, read-modify-write updates and blind overwrites', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    const wires = [0, 1, 2, 3].map((i) => wireWithTags([{ name: 'round', value: String(i) }, { name: `only-${i}`, value: 'x' }]));
    const theirs: Record<string, string> = {};
    for (let round = 0; round < 4; round++) {
      world.emulator.setFixture(wires[round]!);
      for (let i = 0; i < 6; i++) {
        const key = `team.example.com/r${round}-${i}`;
        theirs[key] = 'v';
        if (i % 2 === 0) {
          // A merge patch that names only its own key, as kubectl label does.
          const r = await api('PATCH', '/api/v1/nodes/node-0', { metadata: { labels: { [key]: 'v' } } });
          expect(r.status).toBe(200);
        } else {
          // Read-modify-write with the resourceVersion as a precondition, retried on 409.
          for (;;) {
            const got = await api('GET', '/api/v1/nodes/node-0');
            const node = got.body as unknown as SandboxNode;
            node.metadata.labels = { ...node.metadata.labels, [key]: 'v' };
            const put = await api('PUT', '/api/v1/nodes/node-0', node, 'application/json');
            if (put.status === 409) continue;
            expect(put.status).toBe(200);
            break;
          }
        }
        await sleep(30);
      }
    }
    await converged(wires[3], 'agent converged with the last round');
    const labels = nodeMeta(world.sandbox).labels;
    for (const key of Object.keys(theirs)) expect(labels[key], key).toBe('v');
    expect(ownershipProblems(world.sandbox)).toEqual([]);

    // A careless writer: an unconditional PUT of a stale copy that drops the agent's labels.
    const stale = structuredClone(world.sandbox.getNode('node-0')!);
    stale.metadata.labels = foreignPart(stale.metadata.labels ?? {});
    delete stale.metadata.resourceVersion;
    const put = await api('PUT', '/api/v1/nodes/node-0', stale, 'application/json');
    expect(put.status).toBe(200);
    await converged(wires[3], 'the agent restored its labels after the blind overwrite');
    for (const key of Object.keys(theirs)) expect(nodeMeta(world.sandbox).labels[key], key).toBe('v');
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('a writer racing every agent patch (409s from real concurrency): both sides end up present', async () => {
    agent = await startInProcessAgent(world);
    await converged();
    // Slow the agent's patches so the other writer lands between its read and its write.
    world.sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', latencyMs: 150 }] });
    const stop = new AbortController();
    const keys: string[] = [];
    const writer = (async () => {
      for (let i = 0; i < 60 && !stop.signal.aborted; i++) {
        const key = `race.example.com/k${i}`;
        keys.push(key);
        world.sandbox.putNode(withLabel(world.sandbox.getNode('node-0')!, key));
        await sleep(40);
      }
    })();
    const wires = [0, 1, 2, 3, 4, 5].map((i) => wireWithTags([{ name: 'race', value: String(i) }]));
    for (const w of wires) {
      world.emulator.setFixture(w);
      await sleep(350);
    }
    stop.abort();
    await writer;
    await converged(wires.at(-1), 'converged after the race');
    const labels = nodeMeta(world.sandbox).labels;
    for (const key of keys) expect(labels[key], key).toBe('x');
    expect(await agent.metric('imds_labeler_node_patches_total', { result: 'conflict' })).toBeGreaterThanOrEqual(1);
    expect(ownershipProblems(world.sandbox)).toEqual([]);
  });

  it('two agents on one node (a rolling update with surge): they converge together and then write nothing', async () => {
    const last: string[] = ['', ''];
    const spy = (i: number) => (fetch: (s: AbortSignal) => Promise<InstanceDocument>) => async (s: AbortSignal) => {
      const doc = await fetch(s);
      last[i] = JSON.stringify(doc.compute.tagsList);
      return doc;
    };
    agent = await startInProcessAgent(world, { wrapFetch: spy(0) });
    const second = await startInProcessAgent(world, { wrapFetch: spy(1) });
    try {
      let w = defaultWire();
      for (let i = 0; i < 4; i++) {
        w = wireWithTags([{ name: 'twins', value: String(i) }]);
        world.emulator.setFixture(w);
        await converged(w, `round ${i}`);
      }
      // Until both have read the last document, their desired states differ and they may
      // overwrite each other (paced, see the next test). Then: many polls, and not one write.
      const final = JSON.stringify(w.compute.tagsList);
      await waitFor('both agents read the last document', () => last, { accept: (l) => l[0] === final && l[1] === final });
      await converged(w, 'converged on the last document');
      // Let a reconcile that started from a watch event older than the other agent's last patch
      // end (it meets a 409 and re-reads): the steady state is what comes after.
      world.emulator.resetCounters();
      await waitFor('a few polls to settle', () => world.emulator.requests().byPath['/metadata/instance'] ?? 0, { accept: (n) => n >= 4 });
      world.sandbox.resetCounters();
      world.emulator.resetCounters();
      await waitFor('a dozen polls between them', () => world.emulator.requests().byPath['/metadata/instance'] ?? 0, { accept: (n) => n >= 12 });
      expect(nodeWrites(world.sandbox)).toBe(0);
      expect(ownershipProblems(world.sandbox)).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('two agents that disagree (an upgrade changing the tag filter, with surge): they overwrite each other at a bounded pace, not in a hot loop', async () => {
    world.emulator.setFixture(wireWithTags([{ name: 'a', value: '1' }, { name: 'b', value: '2' }]));
    agent = await startInProcessAgent(world);
    const other = await startInProcessAgent(world, { config: { labels: { tags: { include: ['a'] } } } });
    try {
      await waitFor('both wrote', () => nodeWrites(world.sandbox), { accept: (n) => n >= 2 });
      world.sandbox.resetCounters();
      world.emulator.resetCounters();
      // About 5 s of polls (each agent polls at most twice a second, its IMDS rate limit).
      await waitFor('twenty polls between them', () => world.emulator.requests().byPath['/metadata/instance'] ?? 0, { accept: (n) => n >= 20 });
      // Unpaced, each write triggers the other's at once: hundreds of writes in that time.
      // Paced: a burst of 5, then one per 2 s, per agent.
      expect(nodeWrites(world.sandbox)).toBeLessThanOrEqual(30);
      expect(agent.logs.some((l) => String(l.msg).includes('pacing')) || other.logs.some((l) => String(l.msg).includes('pacing'))).toBe(true);
      expect(ownershipProblems(world.sandbox)).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('never touches another node', async () => {
    const other = nodeMeta(world.sandbox, 'node-1');
    agent = await startInProcessAgent(world);
    await converged();
    world.emulator.setFixture(wireWithTags([{ name: 'more', value: 'x' }]));
    await converged(wireWithTags([{ name: 'more', value: 'x' }]));
    const after = nodeMeta(world.sandbox, 'node-1');
    expect(after.labels).toEqual(other.labels);
    expect(after.annotations).toEqual(other.annotations);
  });
});

function withLabel(node: SandboxNode, key: string): SandboxNode {
  return { ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, [key]: 'x' } } };
}
