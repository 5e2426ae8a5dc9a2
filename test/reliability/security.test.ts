import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.ts';
import type { ACTIONS, FaultSpec } from '../../testbed/imds-emulator/faults.ts';
import { startEmulator } from '../../testbed/imds-emulator/server.ts';
import { createClientNodeNodeClient, loadKubeConfig } from '../../src/kube/clientNode.ts';
import type { NodeClient } from '../../src/kube/nodeClient.ts';
import { reconcilePolicy } from '../../src/kube/policy.ts';
import { reconcile } from '../../src/kube/reconcile.ts';
import { NodeSyncer } from '../../src/kube/syncer.ts';
import { toNodeMeta, type MetadataPatch, type NodeMeta } from '../../src/kube/types.ts';
import { systemClock } from '../../src/clock.ts';
import { ENTRY, startAgentProcess, type AgentProcess } from '../helpers/agentProcess.ts';
import { startEndless, startHostile, serveJson, type HostileServer } from './hostile.ts';
import { agentConfig, defaultWire, desiredFor, matchesDesired, nodeMeta, OWNERSHIP, startWorld, wireWithTags, type World } from './harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Security properties, each against something hostile: a proxy in the environment, a redirecting
 * or endless IMDS, a mapping that emits keys it must not, and logs read by people who must not
 * learn tokens or tag values.
 */

const NODES = ['sec-0', 'sec-1', 'sec-2', 'sec-3', 'sec-4', 'sec-5', 'sec-6', 'sec-7', 'sec-8'];
let world: World;
let agent: AgentProcess | undefined;
const servers: HostileServer[] = [];

beforeAll(async () => {
  world = await startWorld({ nodes: NODES });
});
afterAll(async () => {
  await world?.close();
});
afterEach(async () => {
  await agent?.stop('SIGKILL');
  agent = undefined;
  for (const s of servers.splice(0)) await s.close();
  world.reset();
});

const config = agentConfig();
const args = (node: string, endpoint: string, extra: string[] = []) => [
  '--node-name', node, '--kubeconfig', world.kubeconfig, '--imds-endpoint', endpoint, '--poll-period', '200ms', '--poll-jitter', '0', ...extra,
];
const hostile = async (...a: Parameters<typeof startHostile>) => {
  const s = await startHostile(...a);
  servers.push(s);
  return s;
};

describe('what the agent sends to IMDS', () => {
  it('exactly Metadata: true, never X-Forwarded-For or any forwarding header', async () => {
    const imds = await hostile(serveJson(() => defaultWire()));
    agent = await startAgentProcess(args('sec-0', imds.url));
    await waitFor('labeled from the recording IMDS', () => matchesDesired(world.sandbox, desiredFor(defaultWire(), config), 'sec-0'), { accept: Boolean });
    expect(imds.requests.length).toBeGreaterThanOrEqual(1);
    for (const r of imds.requests) {
      expect(r.method).toBe('GET');
      expect(r.headers.metadata).toBe('true');
      for (const h of ['x-forwarded-for', 'forwarded', 'via', 'x-real-ip', 'proxy-authorization', 'authorization', 'cookie']) expect(r.headers[h], h).toBeUndefined();
      expect(r.url.startsWith('/metadata/instance?')).toBe(true);
    }
  });

  it('never uses a proxy for IMDS, whatever HTTP_PROXY, HTTPS_PROXY, http_proxy, ALL_PROXY and NODE_USE_ENV_PROXY say', async () => {
    // IMDS on 127.0.0.2 so that NO_PROXY (which keeps the API server off the proxy) cannot cover it.
    const emulator = await startEmulator({ port: 0, host: '127.0.0.2', fixture: defaultWire() });
    try {
      const proxy = await hostile((_req, res) => {
        res.writeHead(502);
        res.end('hostile proxy');
      });
      const env = {
        HTTP_PROXY: proxy.url,
        HTTPS_PROXY: proxy.url,
        http_proxy: proxy.url,
        https_proxy: proxy.url,
        ALL_PROXY: proxy.url,
        all_proxy: proxy.url,
        NODE_USE_ENV_PROXY: '1',
        NO_PROXY: '127.0.0.1',
        no_proxy: '127.0.0.1',
      };
      agent = await startAgentProcess(args('sec-1', emulator.url), env);
      await waitFor('labeled through a direct connection', () => matchesDesired(world.sandbox, desiredFor(defaultWire(), config), 'sec-1'), { accept: Boolean });
      await waitFor('five polls', () => emulator.requests().byPath['/metadata/instance'] ?? 0, { accept: (n) => n >= 5, timeoutMs: 20_000 });
      expect(proxy.requests).toEqual([]);
      expect(proxy.connections()).toBe(0);
    } finally {
      await emulator.close();
    }
  });

  it.each([301, 302, 303, 307, 308])('never follows a %i redirect from IMDS', async (status) => {
    const target = await hostile(serveJson(() => wireWithTags([{ name: 'redirected', value: 'yes' }])));
    const redirector = await hostile((req, res) => {
      res.writeHead(status, { Location: `${target.url}${req.url ?? '/'}` });
      res.end();
    });
    agent = await startAgentProcess(args('sec-2', redirector.url));
    await waitFor('redirects counted', () => agent!.metricValue('imds_labeler_imds_errors_total', { code: String(status) }), { accept: (v) => (v ?? 0) >= 3, timeoutMs: 20_000 });
    expect(target.requests).toEqual([]);
    expect(target.connections()).toBe(0);
    expect(nodeMeta(world.sandbox, 'sec-2').labels['tags.imds-labeler.io/redirected']).toBeUndefined();
    expect(agent.proc.exitCode).toBeNull();
  });

  it('caps the body: an endless answer is cut off early every time, the agent stays up and its memory flat', async () => {
    const endless = await startEndless();
    servers.push(endless);
    agent = await startAgentProcess(args('sec-3', endless.url));
    await waitFor('two endless answers cut', () => endless.bytesPerResponse.length, { accept: (n) => n >= 2, timeoutMs: 20_000 });
    const rssEarly = (await agent.metricValue('process_resident_memory_bytes'))!;
    await waitFor('twelve endless answers cut', () => endless.bytesPerResponse.length, { accept: (n) => n >= 12, timeoutMs: 30_000 });
    const rssLate = (await agent.metricValue('process_resident_memory_bytes'))!;
    // The cap is 1 MiB; what the server could push past it is bounded by socket buffers.
    const MiB = 1024 * 1024;
    for (const sent of endless.bytesPerResponse) expect(sent).toBeLessThan(16 * MiB);
    expect(await agent.metricValue('imds_labeler_imds_errors_total', { code: 'too_large' })).toBeGreaterThanOrEqual(12);
    expect(agent.proc.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${agent.port}/healthz`)).status).toBe(200);
    expect(rssLate - rssEarly).toBeLessThan(48 * MiB);
    console.log(`endless body: bytes sent per answer before the agent hung up: ${endless.bytesPerResponse.slice(0, 12).join(', ')}; RSS ${Math.round(rssEarly / MiB)} → ${Math.round(rssLate / MiB)} MiB`);
  });
});

describe('keys outside the agent\'s prefixes are refused in code', () => {
  const FOREIGN = [
    'kubernetes.io/hostname',
    'node-role.kubernetes.io/control-plane',
    'node.kubernetes.io/exclude-from-external-load-balancers',
    'topology.kubernetes.io/zone',
    'kubernetes.azure.com/agentpool',
    'k8s.io/owned',
    'team.example.com/owner',
    'sub.imds-labeler.io/x',
    'imds-labeler.io.evil.com/x',
    'evil.com/imds-labeler.io',
    'tags.imds-labeler.io.example/x',
    'bare-name',
    'imds-labeler.io/',
    'IMDS-LABELER.IO/upper',
    'imds-labeler.io/a/b',
    OWNERSHIP.labels,
    OWNERSHIP.annotations,
  ];
  const node = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}): NodeMeta => ({
    name: 'n',
    uid: 'u',
    resourceVersion: '7',
    labels: { 'kubernetes.io/hostname': 'n', 'team.example.com/owner': 'payments', ...labels },
    annotations,
  });
  const patchedKeys = (patch: MetadataPatch | null) => [...Object.keys(patch?.metadata.labels ?? {}), ...Object.keys(patch?.metadata.annotations ?? {})];

  it('reconcile never writes a foreign key a mapping emits, as a label or an annotation', () => {
    const policy = reconcilePolicy(config.labels);
    const want = Object.fromEntries(FOREIGN.map((k) => [k, 'pwned']));
    const result = reconcile({ labels: { ...want, 'imds-labeler.io/zone': '1' }, annotations: want }, node(), policy);
    expect(patchedKeys(result.patch).sort()).toEqual(['imds-labeler.io/owned-labels', 'imds-labeler.io/zone']);
    expect(result.patch?.metadata.annotations?.[OWNERSHIP.labels]).toBe('imds-labeler.io/zone');
    expect(result.refused).toEqual(expect.arrayContaining(FOREIGN));
  });

  it('a forged ownership record never makes it remove a foreign key', () => {
    const policy = reconcilePolicy(config.labels);
    const forged = node({ 'node-role.kubernetes.io/control-plane': '' }, { [OWNERSHIP.labels]: FOREIGN.join(','), [OWNERSHIP.annotations]: FOREIGN.join(',') });
    const result = reconcile({ labels: {}, annotations: {} }, forged, policy);
    for (const key of FOREIGN) {
      if (key === OWNERSHIP.labels || key === OWNERSHIP.annotations) continue;
      expect(result.patch?.metadata.labels?.[key], key).toBeUndefined();
      expect(result.patch?.metadata.annotations?.[key], key).toBeUndefined();
    }
  });

  it('well-known keys only when opted in, and never over another writer\'s value', () => {
    const off = reconcilePolicy(config.labels);
    const on = reconcilePolicy(agentConfig({ labels: { wellKnown: true } }).labels);
    const want = { labels: { 'topology.kubernetes.io/zone': 'westus-1', 'topology.kubernetes.io/region': 'westus', 'node.kubernetes.io/instance-type': 'Standard_A3' }, annotations: {} };
    expect(patchedKeys(reconcile(want, node(), off).patch)).not.toContain('topology.kubernetes.io/zone');
    expect(reconcile(want, node(), on).patch?.metadata.labels).toEqual(want.labels);
    const cloudProvider = node({ 'topology.kubernetes.io/zone': 'westus-2' });
    expect(reconcile(want, cloudProvider, on).patch?.metadata.labels?.['topology.kubernetes.io/zone']).toBeUndefined();
    // Opted in is not opted in to everything under kubernetes.io.
    const more = { labels: { ...want.labels, 'kubernetes.io/role': 'master', 'beta.kubernetes.io/instance-type': 'x' }, annotations: {} };
    const keys = patchedKeys(reconcile(more, node(), on).patch);
    expect(keys).not.toContain('kubernetes.io/role');
    expect(keys).not.toContain('beta.kubernetes.io/instance-type');
  });

  it('property: whatever keys a mapping emits, every patched key is the agent\'s own', () => {
    const policy = reconcilePolicy(config.labels);
    const segment = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,12}[a-z0-9])?$/);
    const key = fc.oneof(
      fc.constantFrom(...FOREIGN),
      fc.tuple(fc.constantFrom('imds-labeler.io', 'tags.imds-labeler.io', 'kubernetes.io', 'x.kubernetes.io', 'k8s.io', 'example.com', 'imds-labeler.io.x', 'Imds-Labeler.io'), segment).map(([p, n]) => `${p}/${n}`),
      fc.string({ maxLength: 40 }),
    );
    const map = fc.dictionary(key, fc.string({ maxLength: 10 }), { maxKeys: 12 });
    fc.assert(
      fc.property(map, map, map, fc.constantFrom(...FOREIGN, 'imds-labeler.io/zone', 'tags.imds-labeler.io/x'), (labels, annotations, existing, recorded) => {
        const n = node(existing, { [OWNERSHIP.labels]: recorded, [OWNERSHIP.annotations]: recorded });
        const result = reconcile({ labels, annotations }, n, policy);
        for (const k of patchedKeys(result.patch)) {
          const own = /^(tags\.)?imds-labeler\.io\/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k);
          // A well-known label an earlier config wrote (it is in the record) may be taken back, never set.
          const takenBack = k === recorded && k === 'topology.kubernetes.io/zone' && result.patch?.metadata.labels?.[k] === null;
          if (!own && !takenBack) return false;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('the syncer, over the API, never writes a foreign key and never touches another node', async () => {
    const real = createClientNodeNodeClient({ component: 'imds-labeler' }, await loadKubeConfig({ kubeconfig: world.kubeconfig, env: {} }));
    const sent: { name: string; patch: MetadataPatch }[] = [];
    const client: NodeClient = { ...real, patch: (name, patch, signal) => (sent.push({ name, patch }), real.patch(name, patch, signal)) };
    const controller = new AbortController();
    const syncer = new NodeSyncer({
      client,
      nodeName: 'sec-4',
      policy: reconcilePolicy(config.labels),
      clock: systemClock,
      random: Math.random,
      logger: silentLogger(),
      dryRun: false,
      events: false,
      signal: controller.signal,
    });
    const other = nodeMeta(world.sandbox, 'sec-5');
    const want = Object.fromEntries(FOREIGN.map((k) => [k, 'pwned']));
    syncer.setDesired({ labels: { ...want, 'imds-labeler.io/zone': '1' }, annotations: want, skipped: [] });
    syncer.setObserved(toNodeMeta(world.sandbox.getNode('sec-4')!));
    await waitFor('own key written', () => nodeMeta(world.sandbox, 'sec-4').labels['imds-labeler.io/zone'], { accept: (v) => v === '1' });
    await syncer.idle();
    controller.abort();
    const labels = nodeMeta(world.sandbox, 'sec-4').labels;
    for (const k of FOREIGN) expect(labels[k], k).not.toBe('pwned');
    for (const { name, patch } of sent) {
      expect(name).toBe('sec-4');
      for (const k of patchedKeys(patch)) expect(k.startsWith('imds-labeler.io/')).toBe(true);
    }
    expect(nodeMeta(world.sandbox, 'sec-5')).toEqual(other);
  });
});

describe('logs never carry tokens, nor tag values at info or above, through every IMDS failure', () => {
  const TOKEN = `sk-live-${'7Zq'.repeat(8)}-token`;
  // Tag values that look like secrets: valid label values (they become labels), one that is not
  // (it only reaches the annotation), and one in a tag whose name cannot be a label.
  const SECRETS = ['hunter2-Passw0rd-9f8e7d', 'AKIA-4G7H-SECRET-VALUE', 'p@ss w0rd; with spaces!', 'conn=Server=tcp:db;Password=Sup3r'];
  const secretTags = [
    { name: 'db-password', value: SECRETS[0]! },
    { name: 'aws-key', value: SECRETS[1]! },
    { name: 'odd value', value: SECRETS[2]! },
    { name: 'conn', value: SECRETS[3]! },
  ];
  // Tags first, so that any body snippet in an error message would reach them.
  const tagsFirst = (tags: { name: string; value: string }[]) => {
    const base = wireWithTags(tags);
    const { tagsList, tags: legacy, ...rest } = base.compute;
    return { compute: { tagsList, tags: legacy, ...rest }, network: base.network };
  };
  const secretWire = () => tagsFirst(secretTags);

  const IMDS_FAULTS: Record<(typeof ACTIONS)[number], FaultSpec[]> = {
    status: [{ status: 500 }, { status: 400 }, { status: 404 }, { status: 410 }, { status: 429, retryAfter: 1 }, { status: 418 }],
    statuses: [{ statuses: [503, 502] }],
    hang: [{ hang: true }],
    slowDrip: [{ slowDrip: { bytes: 1024, intervalMs: 400 } }],
    truncate: [{ truncate: true }],
    malformed: [{ malformed: true }],
    html: [{ html: 200 }, { html: 502 }],
    hugeBody: [{ hugeBody: { mebibytes: 2 } }],
    deepNesting: [{ deepNesting: { levels: 3_000 } }],
    reset: [{ reset: true }],
    // The document itself, tags and all, where an error is expected.
    mislabel: [{ mislabel: { contentType: 'text/html' } }, { mislabel: { status: 503 } }, { mislabel: { status: 404, contentType: 'text/plain' } }, { mislabel: { status: 400 } }],
  };

  /** Runs the agent at a log level through faults on both sides; returns everything it printed. */
  async function run(level: string, node: string, extra: string[] = []): Promise<string> {
    // Short IMDS timeouts, so a hang or a slow drip fails a poll within a second.
    const imdsConfig = join(world.dir, `imds-${level}-${node}.yaml`);
    writeFileSync(imdsConfig, 'imds:\n  requestTimeout: 1s\n  retryBudget: 2s\n');
    extra = ['--config', imdsConfig, ...extra];
    const kubeconfig = join(world.dir, `token-${level}.kubeconfig`);
    writeFileSync(kubeconfig, world.sandbox.kubeconfig().replace('sandbox-token', TOKEN));
    expect(world.sandbox.kubeconfig()).toContain('sandbox-token');
    world.emulator.setFixture(secretWire());
    const a = await startAgentProcess(['--node-name', node, '--kubeconfig', kubeconfig, '--imds-endpoint', world.emulator.url, '--poll-period', '200ms', '--poll-jitter', '0', '--resync-period', '1s', '--log-level', level, ...extra]);
    agent = a;
    await waitFor('first reconcile', () => a.metricValue('imds_labeler_reconciles_total'), { accept: (v) => (v ?? 0) >= 1, timeoutMs: 20_000 });
    // Kubernetes faults: conflicts, throttling, errors, refusal of a patch, a cut watch.
    world.sandbox.setFaults({
      faults: [
        { verb: 'patch', resource: 'nodes', status: 409, times: 2 },
        { verb: 'patch', resource: 'nodes', status: 429, times: 1, retryAfter: 1 },
        { verb: 'patch', resource: 'nodes', status: 500, times: 1 },
        { verb: 'patch', resource: 'nodes', status: 422, times: 1 },
        { verb: 'patch', resource: 'nodes', status: 403, times: 1 },
        { verb: 'watch', resource: 'nodes', dropWatch: { afterEvents: 1, mode: 'reset' }, times: 1 },
        { verb: 'list', resource: 'nodes', status: 500, times: 1 },
      ],
      refuse: { connections: 1, mode: 'reset' },
    });
    const changed = tagsFirst([...secretTags, { name: 'rotated', value: 'Rotated-Secret-Value-42' }]);
    world.emulator.setFixture(changed);
    await waitFor('some logs', () => a.logs.length, { accept: (n) => n >= 8, timeoutMs: 20_000 });
    // Every IMDS failure the emulator can produce, each with a body or an error that could quote
    // the document: the table is keyed by the emulator's actions, so a new one must be added here.
    for (const fault of Object.values(IMDS_FAULTS).flat()) {
      world.emulator.setFaults({ faults: [{ path: '/metadata/instance', ...fault, ...('statuses' in fault ? {} : { times: 2 }) }] });
      const before = (await a.metricValue('imds_labeler_imds_requests_total')) ?? 0;
      await waitFor(`requests through ${JSON.stringify(fault)}`, () => a.metricValue('imds_labeler_imds_requests_total'), { accept: (v) => (v ?? 0) >= before + 3, timeoutMs: 20_000 });
    }
    world.emulator.setFaults({ faults: [] });
    world.sandbox.setFaults({ faults: [] });
    await a.stop('SIGTERM');
    agent = undefined;
    return `${a.logs.map((l) => JSON.stringify(l)).join('\n')}\n${a.stderr()}`;
  }

  /** Secrets that show in the text, whole, JSON-escaped, or as any run of 10 of their characters. */
  const leaked = (text: string, secrets: string[]) =>
    secrets.filter((secret) =>
      [secret, JSON.stringify(secret).slice(1, -1)].some((s) => {
        for (let i = 0; i + 10 <= s.length; i++) if (text.includes(s.slice(i, i + 10))) return true;
        return false;
      }),
    );

  it('at trace: no token anywhere', async () => {
    const text = await run('trace', 'sec-6');
    expect(text.length).toBeGreaterThan(1000);
    expect(leaked(text, [TOKEN])).toEqual([]);
    expect(text).not.toContain('Bearer');
  });

  it('at info: no token and no tag value', async () => {
    const text = await run('info', 'sec-7');
    expect(leaked(text, [TOKEN, ...SECRETS, 'Rotated-Secret-Value-42'])).toEqual([]);
  });

  it('at info in dry-run mode: no tag value either', async () => {
    const text = await run('info', 'sec-8', ['--dry-run']);
    expect(text).toContain('dry run');
    expect(leaked(text, [TOKEN, ...SECRETS, 'Rotated-Secret-Value-42'])).toEqual([]);
  });

  it('a kubeconfig that does not parse: exit 2, the token not echoed', async () => {
    const kubeconfig = join(world.dir, 'broken.kubeconfig');
    writeFileSync(kubeconfig, world.sandbox.kubeconfig().replace('sandbox-token', `${TOKEN} : : [`));
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const proc = spawn(process.execPath, [ENTRY, 'agent', '--node-name', 'x', '--kubeconfig', kubeconfig, '--port', '0'], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
      proc.on('exit', (code) => resolve({ code, out }));
    });
    expect(r.code).toBe(2);
    expect(r.out).toContain(kubeconfig);
    expect(leaked(r.out, [TOKEN])).toEqual([]);
  });
});
