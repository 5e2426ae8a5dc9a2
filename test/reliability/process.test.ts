import { writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runToExit, startAgentProcess } from '../helpers/agentProcess.ts';
import { agentConfig, defaultWire, desiredFor, matchesDesired, nodeMeta, ownershipProblems, processWorld, wireWithTags } from './harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Scenarios about the process itself, with the real entry point in a child process: signals in
 * the middle of a write, a kill and a restart, and the exit codes of bad configuration.
 */

const NODE = 'node-0';
const ctx = processWorld([NODE]);

const start = (extra: string[] = []) =>
  startAgentProcess(['--node-name', NODE, '--kubeconfig', ctx.world.kubeconfig, '--imds-endpoint', ctx.world.emulator.url, '--poll-period', '200ms', '--poll-jitter', '0', '--resync-period', '2s', ...extra]);
const config = agentConfig();
const converged = (wire: unknown, what: string) => waitFor(what, () => matchesDesired(ctx.world.sandbox, desiredFor(wire, config)), { accept: Boolean, timeoutMs: 30_000 });
const patches = () => ctx.world.sandbox.counters().byVerbResource['patch nodes'] ?? 0;

describe('signals', () => {
  it('SIGTERM during a patch: exits 0, the write in flight completes, the node is consistent', async () => {
    ctx.agent = await start();
    await converged(defaultWire(), 'initial labels');
    ctx.world.sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', latencyMs: 1500 }] });
    const next = wireWithTags([{ name: 'in-flight', value: 'yes' }]);
    const sent = patches();
    ctx.world.emulator.setFixture(next);
    await waitFor('a patch in flight', patches, { accept: (n) => n > sent, timeoutMs: 20_000 });
    expect(nodeMeta(ctx.world.sandbox).labels['tags.imds-labeler.io/in-flight']).toBeUndefined();
    expect(await ctx.agent.stop('SIGTERM')).toBe(0);
    expect(ownershipProblems(ctx.world.sandbox)).toEqual([]);
    // The agent waits (up to 5 s) for the write in flight: it reached the node.
    expect(matchesDesired(ctx.world.sandbox, desiredFor(next, config))).toBe(true);
    expect(ctx.agent.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('SIGTERM while IMDS hangs and every poll is retrying: exits 0, labels in place', async () => {
    ctx.agent = await start();
    await converged(defaultWire(), 'initial labels');
    const before = nodeMeta(ctx.world.sandbox).labels;
    ctx.world.emulator.setFaults({ faults: [{ path: '/metadata/instance', hang: true }] });
    await waitFor('a hung request timed out', () => ctx.agent!.metricValue('imds_labeler_imds_timeouts_total'), { accept: (v) => (v ?? 0) >= 1, timeoutMs: 30_000 });
    expect(await ctx.agent.stop('SIGTERM')).toBe(0);
    expect(nodeMeta(ctx.world.sandbox).labels).toEqual(before);
  });

  it('SIGTERM while the API server refuses connections: exits 0', async () => {
    ctx.world.sandbox.setFaults({ faults: [], refuse: { forMs: 60_000, mode: 'reset' } });
    ctx.agent = await start();
    await waitFor('two refused lists', () => ctx.agent!.logs.filter((l) => l.msg === 'node list failed').length, { accept: (n) => n >= 2, timeoutMs: 20_000 });
    expect(await ctx.agent.stop('SIGTERM')).toBe(0);
  });

  it.each(['SIGINT', 'SIGHUP'] as const)('%s: a clean shutdown, exit 0, the labels in place', async (signal) => {
    ctx.agent = await start();
    await converged(defaultWire(), 'initial labels');
    const before = nodeMeta(ctx.world.sandbox).labels;
    expect(await ctx.agent.stop(signal)).toBe(0);
    expect(ctx.agent.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    expect(nodeMeta(ctx.world.sandbox).labels).toEqual(before);
  });

  it('SIGKILL at any point, then a restart: the node is consistent after every kill and matches IMDS after every restart', async () => {
    ctx.agent = await start();
    await converged(defaultWire(), 'initial labels');
    for (let round = 0; round < 4; round++) {
      // Half the kills land during a slow patch, half right after IMDS changed.
      if (round % 2 === 0) ctx.world.sandbox.setFaults({ faults: [{ verb: 'patch', resource: 'nodes', latencyMs: 400 }] });
      const tags = Array.from({ length: round + 1 }, (_, i) => ({ name: `k${round}-${i}`, value: String(i) }));
      const next = wireWithTags(round === 3 ? [] : tags);
      const sent = patches();
      ctx.world.emulator.setFixture(next);
      if (round % 2 === 0) await waitFor('a patch in flight', patches, { accept: (n) => n > sent, timeoutMs: 20_000 });
      await ctx.agent.stop('SIGKILL');
      expect(ctx.agent.proc.signalCode).toBe('SIGKILL');
      expect(ownershipProblems(ctx.world.sandbox), `after kill ${round}`).toEqual([]);
      ctx.world.sandbox.setFaults({ faults: [] });
      ctx.agent = await start();
      await converged(next, `converged after restart ${round}`);
      expect(ownershipProblems(ctx.world.sandbox), `after restart ${round}`).toEqual([]);
    }
  });
});

describe('configuration errors exit 2 and name the field', () => {
  it.each([
    { name: 'a value that is not a duration', yaml: 'poll:\n  period: soon\n', field: 'poll.period' },
    { name: 'an unknown field', yaml: 'imds:\n  endpointt: http://x\n', field: 'imds.endpointt' },
    { name: 'a rate above IMDS limits', yaml: 'imds:\n  rateLimit:\n    requestsPerSecond: 4\n    burst: 2\n', field: 'imds.rateLimit' },
    { name: 'a reserved prefix', yaml: 'labels:\n  prefix: node-role.kubernetes.io\n', field: 'labels.prefix' },
    { name: 'an https IMDS endpoint', yaml: 'imds:\n  endpoint: https://169.254.169.254\n', field: 'imds.endpoint' },
    { name: 'a wrong type', yaml: 'dryRun: maybe\n', field: 'dryRun' },
    { name: 'a response cap too large', yaml: 'imds:\n  maxResponseBytes: 1073741824\n', field: 'imds.maxResponseBytes' },
  ])('$name', async ({ yaml, field }) => {
    const file = join(ctx.world.dir, `bad-${field}.yaml`);
    writeFileSync(file, yaml);
    const r = await runToExit(['agent', '--config', file, '--node-name', NODE, '--kubeconfig', ctx.world.kubeconfig, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(field);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it('a config file that is not JSON or YAML, or not a mapping, or missing', async () => {
    const bad = join(ctx.world.dir, 'bad.yaml');
    writeFileSync(bad, 'poll: [unclosed\n');
    const list = join(ctx.world.dir, 'list.yaml');
    writeFileSync(list, '- a\n- b\n');
    const badJson = join(ctx.world.dir, 'bad.json');
    writeFileSync(badJson, '{"poll": {"period": "60s",}\n');
    for (const [file, message] of [
      [bad, /not valid JSON or YAML/],
      [badJson, /not valid JSON or YAML/],
      [list, /mapping at the top level/],
      [join(ctx.world.dir, 'missing.yaml'), /cannot read config file.*ENOENT/],
    ] as const) {
      const r = await runToExit(['agent', '--config', file, '--node-name', NODE]);
      expect(r.code, file).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('NODE_NAME missing or empty: a clear error, exit 2', async () => {
    for (const env of [{}, { NODE_NAME: '' }]) {
      const r = await runToExit(['agent', '--kubeconfig', ctx.world.kubeconfig, '--port', '0'], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/kube\.nodeName.*NODE_NAME/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it.each([
    { name: 'no clusters', yaml: 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n' },
    { name: 'a current-context that names nothing', yaml: 'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1"}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: nope\nusers:\n- name: u\n  user: {token: abc}\n' },
  ])('a kubeconfig with $name: exit 2, one line naming the file', async ({ name, yaml }) => {
    const file = join(ctx.world.dir, `${name.replaceAll(' ', '-')}.kubeconfig`);
    writeFileSync(file, yaml);
    const r = await runToExit(['agent', '--node-name', NODE, '--kubeconfig', file, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([
    // 192.0.2.1 (TEST-NET-1) is no address of this host: bind fails locally, nothing is sent.
    { name: 'an address not on this host', args: ['--address', '192.0.2.1', '--port', '0'], code: 2, says: /server\.address \(--address\): cannot listen on 192\.0\.2\.1:0: not an address of this host \(EADDRNOTAVAIL\)/ },
    { name: 'a port another process holds', args: ['--address', '127.0.0.1', '--port', 'TAKEN'], code: 1, says: /server\.port \(--port\): 127\.0\.0\.1:\d+ is already in use by another process \(EADDRINUSE\)/ },
  ])('$name: exit $code, one line naming the setting', async ({ args, code, says }) => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const taken = String((holder.address() as AddressInfo).port);
      const r = await runToExit(['agent', '--node-name', NODE, '--kubeconfig', ctx.world.kubeconfig, '--imds-endpoint', ctx.world.emulator.url, ...args.map((a) => (a === 'TAKEN' ? taken : a))]);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(says);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('an unreadable kubeconfig: exit 2, naming the file', async () => {
    const r = await runToExit(['agent', '--node-name', NODE, '--kubeconfig', join(ctx.world.dir, 'nope'), '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(join(ctx.world.dir, 'nope'));
  });
});
