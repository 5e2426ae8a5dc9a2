/** The sandbox's HTTP surface: discovery, negotiation, tables, watch framing, faults, control, CLI. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { sandboxCommand } from '../../testbed/kube-sandbox/command.ts';
import { UsageError } from '../../src/cli/command.ts';
import { FaultPlanError, parseSandboxFaults, startSandbox, type Sandbox } from '../../testbed/kube-sandbox/index.ts';
import { FakeClock, flush } from '../helpers/fakeClock.ts';

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(opts: Parameters<typeof startSandbox>[0] = {}): Promise<Sandbox> {
  sandbox = await startSandbox({ nodes: ['node-0', 'node-1'], ...opts });
  return sandbox;
}

const get = (s: Sandbox, path: string, headers: Record<string, string> = {}) => fetch(`${s.url}${path}`, { headers });

/** Reads watch lines until `n` have arrived (or the stream ends). */
async function watchLines(res: Response, n: number, onLine?: (count: number) => void | Promise<void>): Promise<Record<string, unknown>[]> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const out: Record<string, unknown>[] = [];
  while (out.length < n) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      out.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
      await onLine?.(out.length);
    }
  }
  await reader.cancel().catch(() => undefined);
  return out;
}

describe('discovery', () => {
  it('serves the legacy documents as plain JSON, even when aggregated discovery is asked for', async () => {
    const s = await start();
    const aggregated = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    const api = await get(s, '/api', { Accept: aggregated });
    expect(api.headers.get('content-type')).toBe('application/json');
    expect(await api.json()).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const apis = await (await get(s, '/apis', { Accept: aggregated })).json();
    expect(apis).toMatchObject({ kind: 'APIGroupList', groups: [{ name: 'events.k8s.io', preferredVersion: { groupVersion: 'events.k8s.io/v1' } }] });
    const v1 = (await (await get(s, '/api/v1')).json()) as { resources: { name: string; shortNames?: string[]; verbs: string[]; kind: string }[] };
    expect(v1.resources.find((r) => r.name === 'nodes')).toMatchObject({ kind: 'Node', shortNames: ['no'], verbs: expect.arrayContaining(['get', 'list', 'watch', 'patch']) });
    expect(v1.resources.find((r) => r.name === 'events')).toMatchObject({ kind: 'Event', shortNames: ['ev'] });
    expect(v1.resources.map((r) => r.name)).toContain('nodes/status');
    expect(await (await get(s, '/apis/events.k8s.io/v1')).json()).toMatchObject({ kind: 'APIResourceList', groupVersion: 'events.k8s.io/v1' });
    expect(await (await get(s, '/version')).json()).toMatchObject({ major: '1', minor: '32', gitVersion: expect.stringMatching(/^v1\.32\./) });
    expect((await get(s, '/openapi/v2')).status).toBe(404);
    const v3 = (await (await get(s, '/openapi/v3')).json()) as { paths: Record<string, { serverRelativeURL: string }> };
    const doc = (await (await get(s, v3.paths['api/v1']!.serverRelativeURL)).json()) as { paths: Record<string, { patch?: { parameters: { name: string }[] } }> };
    expect(doc.paths['/api/v1/nodes/{name}']!.patch!.parameters.map((p) => p.name)).toContain('fieldValidation');
    expect(s.counters()).toMatchObject({ total: 0, nonResource: 8 });
  });

  it('answers unknown paths and methods with Status objects', async () => {
    const s = await start();
    const r = await get(s, '/api/v1/pods');
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', details: {}, code: 404 });
    expect((await get(s, '/api/v1/namespaces/default/nodes')).status).toBe(404);
    const m = await fetch(`${s.url}/api/v1/nodes/node-0`, { method: 'POST', body: '{}' });
    expect(m.status).toBe(405);
    expect(await m.json()).toMatchObject({ reason: 'MethodNotAllowed' });
    expect((await get(s, '/api/v1/nodes', { Accept: 'application/vnd.kubernetes.protobuf' })).status).toBe(406);
    expect((await get(s, '/healthz')).status).toBe(200);
  });
});

describe('responses', () => {
  it('lists omit apiVersion/kind on items and carry the list resourceVersion', async () => {
    const s = await start();
    const list = (await (await get(s, '/api/v1/nodes')).json()) as { kind: string; apiVersion: string; metadata: { resourceVersion: string }; items: Record<string, unknown>[] };
    expect(list).toMatchObject({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: s.resourceVersion() } });
    expect(list.items[0]).not.toHaveProperty('kind');
    expect(list.items[0]).not.toHaveProperty('apiVersion');
  });

  it('serves meta.k8s.io Tables, PartialObjectMetadata and YAML on request', async () => {
    const clock = new FakeClock();
    const s = await start({ clock });
    await clock.advance(3 * 60_000 + 5_000);
    const table = (await (await get(s, '/api/v1/nodes?includeObject=Object', { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' })).json()) as {
      kind: string;
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string } }[];
    };
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Name', 'Status', 'Roles', 'Age', 'Version']);
    expect(table.rows[0]!.cells.slice(0, 5)).toEqual(['node-0', 'Ready', '<none>', '3m5s', 'v1.32.4']);
    expect(table.rows[0]!.object.kind).toBe('Node');
    const partial = (await (await get(s, '/api/v1/nodes/node-0', { Accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' })).json()) as Record<string, unknown>;
    expect(partial).toMatchObject({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'node-0' } });
    expect(partial).not.toHaveProperty('status');
    const yaml = await get(s, '/api/v1/nodes/node-1', { Accept: 'application/yaml' });
    expect(yaml.headers.get('content-type')).toBe('application/yaml');
    expect(parseYaml(await yaml.text())).toMatchObject({ kind: 'Node', metadata: { name: 'node-1' } });
  });

  it('unknown fields come back as a Warning header', async () => {
    const s = await start();
    const r = await fetch(`${s.url}/api/v1/nodes/node-0`, { method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"spec":{"bogus":1}}' });
    expect(r.status).toBe(200);
    expect(r.headers.get('warning')).toBe('299 - "unknown field \\"spec.bogus\\""');
  });

  it('refuses request bodies in unsupported media types and unparsable bodies', async () => {
    const s = await start();
    const p = await fetch(`${s.url}/api/v1/nodes/node-0`, { method: 'PATCH', headers: { 'Content-Type': 'text/plain' }, body: '{}' });
    expect(p.status).toBe(415);
    const c = await fetch(`${s.url}/api/v1/nodes`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' });
    expect(c.status).toBe(400);
    const y = await fetch(`${s.url}/api/v1/nodes`, { method: 'POST', headers: { 'Content-Type': 'application/yaml' }, body: 'metadata:\n  name: node-y\n' });
    expect(y.status).toBe(201);
  });
});

describe('watch over HTTP', () => {
  it('streams JSON lines; as a Table only the first event carries column definitions', async () => {
    const s = await start();
    const res = await get(s, '/api/v1/nodes?watch=1', { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect(res.headers.get('content-type')).toBe('application/json');
    const lines = await watchLines(res, 3, (n) => {
      if (n === 2) s.putNode({ metadata: { name: 'node-2' } });
    });
    expect(lines.map((l) => l.type)).toEqual(['ADDED', 'ADDED', 'ADDED']);
    const tables = lines.map((l) => l.object as { kind: string; columnDefinitions: unknown; rows: { cells: string[] }[] });
    expect(tables.every((t) => t.kind === 'Table')).toBe(true);
    expect(tables[0]!.columnDefinitions).not.toBeNull();
    expect(tables[1]!.columnDefinitions).toBeNull();
    expect(tables[2]!.rows[0]!.cells[0]).toBe('node-2');
  });

  it('the legacy /watch/ path and a named watch follow one object', async () => {
    const s = await start();
    const res = await get(s, '/api/v1/watch/nodes/node-1');
    const lines = await watchLines(res, 1);
    expect(lines).toHaveLength(1);
    expect((lines[0]!.object as { metadata: { name: string } }).metadata.name).toBe('node-1');
    expect(s.counters().byVerbResource['watch nodes']).toBe(1);
  });

  it('rejects a junk resourceVersion with 400', async () => {
    const s = await start();
    expect((await get(s, '/api/v1/nodes?watch=true&resourceVersion=abc')).status).toBe(400);
  });

  it('bookmarks on the injected clock', async () => {
    const clock = new FakeClock();
    const s = await start({ clock, bookmarkIntervalMs: 10_000 });
    const res = await get(s, `/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=${s.resourceVersion()}`);
    const pending = watchLines(res, 1);
    await flush();
    await clock.advance(10_000);
    const [line] = await pending;
    expect(line).toEqual({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: s.resourceVersion() } } });
  });

  it('close() ends open watches', async () => {
    const s = await start();
    const res = await get(s, '/api/v1/nodes?watch=true');
    const reading = watchLines(res, 100);
    await new Promise((r) => setTimeout(r, 50));
    await s.close();
    sandbox = undefined;
    expect((await reading).length).toBe(2);
  });
});

describe('faults', () => {
  it('validates plans and names the offending field', () => {
    expect(() => parseSandboxFaults({ faults: [{ verb: 'patch', status: 429, watchError: 410 }] })).toThrow(/one action/);
    expect(() => parseSandboxFaults({ faults: [{ verb: 'patch' }] })).toThrow(/needs an action/);
    expect(() => parseSandboxFaults({ faults: [{ status: 200 }] })).toThrow(FaultPlanError);
    expect(() => parseSandboxFaults({ refuse: { forMs: 10, connections: 1 } })).toThrow(/exactly one/);
    try {
      parseSandboxFaults({ faults: [{ status: 500, colour: 'red' }] });
      expect.unreachable();
    } catch (err) {
      expect((err as FaultPlanError).field).toBe('faults[0].colour');
    }
    expect(parseSandboxFaults({ faults: [{ verb: ['patch', 'update'], resource: 'nodes', status: 409, times: 3 }] }).faults[0]).toMatchObject({ times: 3 });
  });

  it('forSeconds ends a fault that long after its first match (on the injected clock)', async () => {
    const clock = new FakeClock();
    const s = await start({ clock });
    s.setFaults({ faults: [{ verb: 'get', status: 500, forSeconds: 10 }] });
    expect((await get(s, '/api/v1/nodes/node-0')).status).toBe(500);
    await clock.advance(9_000);
    expect((await get(s, '/api/v1/nodes/node-0')).status).toBe(500);
    await clock.advance(1_000);
    expect((await get(s, '/api/v1/nodes/node-0')).status).toBe(200);
  });

  it('refuse for a period on the injected clock (reset mode)', async () => {
    const clock = new FakeClock();
    const s = await start({ clock });
    s.setFaults({ refuse: { forMs: 5000 } });
    await expect(get(s, '/api/v1/nodes')).rejects.toThrow();
    await clock.advance(5000);
    expect((await get(s, '/api/v1/nodes')).status).toBe(200);
  });

  it('a refuse plan set over HTTP answers its own request, then refuses', async () => {
    const s = await start();
    const watch = await get(s, '/api/v1/nodes?watch=true');
    const reading = watchLines(watch, 100).catch(() => 'dropped');
    const r = await fetch(`${s.url}/_sandbox/faults`, { method: 'POST', body: 'refuse:\n  connections: 1\n' });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ refuse: { connections: 1, mode: 'reset' } });
    expect(await reading).not.toHaveLength(100);
    await expect(get(s, '/api/v1/nodes')).rejects.toThrow();
    expect((await get(s, '/api/v1/nodes')).status).toBe(200);
  });

  it('a watch answered in-stream with a 410 ERROR event', async () => {
    const s = await start();
    s.setFaults({ faults: [{ verb: 'watch', watchError: 410 }] });
    const res = await get(s, '/api/v1/nodes?watch=true&resourceVersion=1001');
    expect(res.status).toBe(200);
    const lines = await watchLines(res, 5);
    expect(lines).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', reason: 'Expired', code: 410 }) }]);
  });

  it('latency delays the answer by the injected clock', async () => {
    const clock = new FakeClock();
    const s = await start({ clock });
    s.setFaults({ faults: [{ verb: 'list', latencyMs: 2000 }] });
    let answered = false;
    const p = get(s, '/api/v1/nodes').then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    await clock.advance(2000);
    expect((await p).status).toBe(200);
  });

  it('GET /_sandbox/faults shows what is left of each fault', async () => {
    const s = await start();
    s.setFaults({ faults: [{ verb: 'list', status: 500, times: 2 }] });
    await get(s, '/api/v1/nodes');
    const plan = (await (await get(s, '/_sandbox/faults')).json()) as { faults: { remaining: number }[] };
    expect(plan.faults[0]!.remaining).toBe(1);
  });
});

describe('imds-labeler sandbox', () => {
  const io = (signal: AbortSignal) => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    return { io: { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {}, signal }, out: () => out };
  };

  it('--help', async () => {
    const c = new AbortController();
    const { io: cio, out } = io(c.signal);
    expect(await sandboxCommand.run(['--help'], cio)).toBe(0);
    expect(out()).toContain('--kubeconfig-out FILE');
  });

  it('serves, writes a kubeconfig, loads faults, and stops on abort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
    try {
      writeFileSync(join(dir, 'faults.yaml'), 'faults:\n  - verb: get\n    status: 503\n    times: 1\n');
      const c = new AbortController();
      const { io: cio, out } = io(c.signal);
      const running = sandboxCommand.run(['--port', '0', '--nodes', 'a,b', '--nodes', 'c', '--faults', join(dir, 'faults.yaml'), '--kubeconfig-out', join(dir, 'kc')], cio);
      for (let i = 0; i < 100 && !out().includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
      const url = /listening on (http:\/\/\S+)/.exec(out())![1]!;
      const kc = parseYaml(readFileSync(join(dir, 'kc'), 'utf8')) as { clusters: { cluster: { server: string } }[]; 'current-context': string };
      expect(kc.clusters[0]!.cluster.server).toBe(url);
      expect(kc['current-context']).toBe('sandbox');
      expect((await fetch(`${url}/api/v1/nodes/a`)).status).toBe(503);
      const list = (await (await fetch(`${url}/api/v1/nodes`)).json()) as { items: { metadata: { name: string } }[] };
      expect(list.items.map((n) => n.metadata.name)).toEqual(['a', 'b', 'c']);
      c.abort();
      expect(await running).toBe(0);
      await expect(fetch(`${url}/api/v1/nodes`)).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['--port', 'x'], /--port/],
    [['--nodes', 'Bad_Name'], /--nodes/],
    [['--faults', '/nonexistent/faults.yaml'], /--faults/],
    [['--bogus'], /bogus/],
  ])('%j is a usage error', async (argv, message) => {
    const c = new AbortController();
    await expect(sandboxCommand.run(argv, io(c.signal).io)).rejects.toThrow(UsageError);
    await expect(sandboxCommand.run(argv, io(c.signal).io)).rejects.toThrow(message);
  });
});
