import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClientNodeNodeClient, loadKubeConfig } from '../../src/kube/clientNode.ts';
import { KubeError } from '../../src/kube/errors.ts';
import type { NodeClient, WatchEnd } from '../../src/kube/nodeClient.ts';
import type { NodeMeta } from '../../src/kube/types.ts';
import { startSandbox, type Sandbox } from '../../testbed/kube-sandbox/server.ts';
import type { SandboxFaults } from '../../testbed/kube-sandbox/faults.ts';
import { selfSignedCertificate, startTlsFront, type TlsFront } from '../helpers/tls.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The Kubernetes client against the sandbox over every transport it ships: plain HTTP, HTTPS
 * verified against a CA file with a token file (as in a pod), and HTTPS through an HTTP CONNECT
 * proxy (a kubeconfig proxy-url). Each transport meets the same faults and must classify them the
 * same way, with the API server's own message.
 */

let dir: string;
let sandbox: Sandbox;
let front: TlsFront;
let proxy: { url: string; connects: number; close(): Promise<void> };
let recorder: { url: string; authorizations: string[]; impersonations: string[]; close(): Promise<void> };
const NODE = 'node-0';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imds-labeler-kube-client-'));
  sandbox = await startSandbox({ nodes: [NODE] });
  const certificate = selfSignedCertificate();
  front = await startTlsFront(sandbox.port, certificate);
  writeFileSync(join(dir, 'ca.crt'), certificate.cert);
  writeFileSync(join(dir, 'token'), 'pod-token-1\n');
  proxy = await startConnectProxy();
  recorder = await startRecorder(sandbox.port);
});
afterAll(async () => {
  await Promise.all([front?.close(), proxy?.close(), recorder?.close()]);
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => sandbox.setFaults({ faults: [] }));

function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown> = { tokenFile: 'token' }): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name, cluster }],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      'current-context': name,
    }),
  );
  return path;
}

const transports: [string, () => string][] = [
  ['plain HTTP', () => kubeconfig('http', { server: sandbox.url })],
  ['HTTPS with a CA file and a token file', () => kubeconfig('https', { server: front.url, 'certificate-authority': 'ca.crt' })],
  ['HTTPS through an HTTP CONNECT proxy-url', () => kubeconfig('proxied', { server: front.url, 'certificate-authority': 'ca.crt', 'proxy-url': proxy.url })],
];

async function clientFor(path: string, options: { impersonate?: string } = {}): Promise<NodeClient> {
  return createClientNodeNodeClient({ component: 'imds-labeler', ...options }, await loadKubeConfig({ kubeconfig: path, env: {} }));
}

const failure = async (p: Promise<unknown>): Promise<KubeError> => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KubeError);
  return err as KubeError;
};

const SECRET = 'tag-value-that-must-not-be-logged';
const patchWithSecret = { metadata: { labels: { 'tags.imds-labeler.io/owner': SECRET } } };

/** fault → what the client makes of it. */
const faults: [string, SandboxFaults, (client: NodeClient) => Promise<unknown>, { kind: string; status?: number; message: RegExp; absent?: string }][] = [
  [
    'an RBAC denial on the patch',
    { faults: [{ verb: 'patch', resource: 'nodes', status: 403, message: 'nodes "node-0" is forbidden: User "system:serviceaccount:kube-system:imds-labeler" cannot patch resource "nodes" in API group "" at the cluster scope' }] },
    (c) => c.patch(NODE, patchWithSecret),
    { kind: 'forbidden', status: 403, message: /^Kubernetes API answered 403 Forbidden: nodes "node-0" is forbidden: User "system:serviceaccount:kube-system:imds-labeler" cannot patch resource "nodes" .* \(reason Forbidden\); check the ClusterRole/ },
  ],
  [
    "the chart's ValidatingAdmissionPolicy denying a key",
    { faults: [{ verb: 'patch', resource: 'nodes', status: 403, message: "nodes \"node-0\" is forbidden: ValidatingAdmissionPolicy 'imds-labeler' with binding 'imds-labeler' denied request: imds-labeler may change only labels under imds-labeler.io/ and tags.imds-labeler.io/; refused: node-role.kubernetes.io/infra" }] },
    (c) => c.patch(NODE, patchWithSecret),
    { kind: 'forbidden', status: 403, message: /403 Forbidden: nodes "node-0" is forbidden: ValidatingAdmissionPolicy 'imds-labeler' with binding 'imds-labeler' denied request: imds-labeler may change only labels under .*; refused: node-role\.kubernetes\.io\/infra \(reason Forbidden\)/, absent: SECRET },
  ],
  [
    'an admission webhook denial that quotes the value sent',
    { faults: [{ verb: 'patch', resource: 'nodes', status: 403, message: `admission webhook "labels.example.com" denied the request: label value "${SECRET}" is not allowed` }] },
    (c) => c.patch(NODE, patchWithSecret),
    { kind: 'forbidden', status: 403, message: /403 Forbidden: admission webhook "labels\.example\.com" denied the request: label value "<redacted>" is not allowed \(reason Forbidden\)/, absent: SECRET },
  ],
  [
    'a 422 from validation',
    { faults: [{ verb: 'patch', resource: 'nodes', status: 422, message: 'must be no more than 63 characters' }] },
    (c) => c.patch(NODE, patchWithSecret),
    { kind: 'invalid', status: 422, message: /^Kubernetes API answered 422 Unprocessable Entity: nodes "node-0" is invalid: metadata: Invalid value: "<redacted>": must be no more than 63 characters \(reason Invalid\); an admission policy/, absent: SECRET },
  ],
  ['a 401', { faults: [{ verb: 'list', status: 401 }] }, (c) => c.list({ name: NODE }), { kind: 'forbidden', status: 401, message: /401 Unauthorized: Unauthorized \(reason Unauthorized\); the API server did not accept the credentials/ }],
  ['a 429 with Retry-After', { faults: [{ verb: 'list', status: 429, retryAfter: 3 }] }, (c) => c.list({ name: NODE }), { kind: 'throttled', status: 429, message: /429 Too Many Requests.*\(reason TooManyRequests\)/ }],
  ['a 500', { faults: [{ verb: 'create', resource: 'events', status: 500, message: 'etcdserver: request timed out' }] }, (c) => c.event({ name: NODE, uid: 'u', resourceVersion: '1', labels: {}, annotations: {} }, { reason: 'LabelsUpdated', message: 'm', type: 'Normal' }), { kind: 'server', status: 500, message: /500 Internal Server Error: Internal error occurred: etcdserver: request timed out \(reason InternalError\)/ }],
  ['connections reset', { refuse: { connections: 3, mode: 'reset' } }, (c) => c.list({ name: NODE }), { kind: 'network', message: /cannot reach the Kubernetes API: ECONNRESET/ }],
];

describe.each(transports)('the Kubernetes client over %s', (_name, config) => {
  let client: NodeClient;
  beforeAll(async () => {
    client = await clientFor(config());
  });

  it('lists, patches (merge patch, field manager), creates an event and watches the node', async () => {
    const list = await client.list({ name: NODE });
    expect(list.nodes.map((n) => n.name)).toEqual([NODE]);
    const patched = await client.patch(NODE, { metadata: { labels: { 'imds-labeler.io/zone': '1' } } });
    expect(patched.labels['imds-labeler.io/zone']).toBe('1');
    await client.event(patched, { reason: 'LabelsUpdated', message: 'zone set', type: 'Normal' });
    expect(sandbox.listEvents().some((e) => (e as { message?: string }).message === 'zone set')).toBe(true);

    const controller = new AbortController();
    const seen: NodeMeta[] = [];
    const ended = client.watch(NODE, { resourceVersion: patched.resourceVersion, timeoutSeconds: 60, signal: controller.signal }, { onEvent: (_t, n) => seen.push(n), onBookmark: () => undefined });
    await waitFor('a watch event', async () => (await client.patch(NODE, { metadata: { labels: { 'imds-labeler.io/zone': String(seen.length + 2) } } }), seen.length), { accept: (n) => n > 0, timeoutMs: 10_000, everyMs: 100 });
    controller.abort();
    expect(await ended).toEqual({ reason: 'closed' });
  });

  it.each(faults)('%s', async (_what, plan, request, expected) => {
    sandbox.setFaults(plan);
    const err = await failure(request(client));
    expect(err.kind).toBe(expected.kind);
    expect(err.status).toBe(expected.status);
    expect(err.message).toMatch(expected.message);
    if (expected.absent) expect(err.message).not.toContain(expected.absent);
    if (expected.status === 429) expect(err.retryAfterMs).toBeGreaterThan(2000);
  });

  it.each<[string, SandboxFaults, WatchEnd['reason'], RegExp | undefined]>([
    ['410 Expired on the stream: gone', { faults: [{ verb: 'watch', watchError: 410 }] }, 'gone', undefined],
    ['an ERROR event with another code: an error with its message', { faults: [{ verb: 'watch', watchError: 500, message: 'storage is down' }] }, 'error', /500 Internal Server Error: .*storage is down/],
    ['403 before the stream opens', { faults: [{ verb: 'watch', status: 403 }] }, 'error', /403 Forbidden: nodes is forbidden \(reason Forbidden\)/],
    ['the stream cut mid-way: a network error', { faults: [{ verb: 'watch', dropWatch: { afterMs: 50, mode: 'reset' } }] }, 'error', /cannot reach the Kubernetes API/],
    ['the stream ended cleanly: closed', { faults: [{ verb: 'watch', dropWatch: { afterMs: 50, mode: 'end' } }] }, 'closed', undefined],
  ])('watch: %s', async (_what, plan, reason, message) => {
    sandbox.setFaults(plan);
    const { resourceVersion } = await client.list({ name: NODE });
    const end = await client.watch(NODE, { resourceVersion, timeoutSeconds: 30, signal: new AbortController().signal }, { onEvent: () => undefined, onBookmark: () => undefined });
    expect(end.reason).toBe(reason);
    if (message) expect(end.reason === 'error' && end.error.message).toMatch(message);
  });

  it('a request in flight ends when its signal aborts (shutdown), whatever the server does', async () => {
    sandbox.setFaults({ faults: [{ verb: 'list', latencyMs: 60_000 }] });
    const controller = new AbortController();
    const pending = client.list({ name: NODE, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await failure(pending)).kind).toBe('aborted');
  });
});

it('the proxy-url transport really goes through the proxy', () => {
  expect(proxy.connects).toBeGreaterThan(0);
});

describe('credentials on the wire', () => {
  it('a token file is read as it rotates (checked at most once a minute, as client-go does) and sent as a bearer token', async () => {
    writeFileSync(join(dir, 'rotating'), 'first-token');
    const client = await clientFor(kubeconfig('rotating', { server: recorder.url }, { tokenFile: 'rotating' }));
    await client.list({ name: NODE });
    expect(recorder.authorizations.at(-1)).toBe('Bearer first-token');
  });

  it('an exec plugin: its token is sent, and it runs once for many requests', async () => {
    const counter = join(dir, 'exec-count');
    writeFileSync(counter, '');
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(plugin, `#!/bin/sh\necho run >> ${counter}\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token"}}'\n`);
    chmodSync(plugin, 0o755);
    const client = await clientFor(kubeconfig('exec', { server: recorder.url }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, args: [] } }));
    await Promise.all([client.list({ name: NODE }), client.list({ name: NODE }), client.list({ name: NODE })]);
    await client.list({ name: NODE });
    expect(recorder.authorizations.slice(-4)).toEqual(Array(4).fill('Bearer exec-token'));
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(client.health?.()).toEqual({ ok: true });
  });
});

describe('impersonation (kube.identity node)', () => {
  const AS = 'system:node:node-0';
  const node: NodeMeta = { name: NODE, uid: 'u', resourceVersion: '1', labels: {}, annotations: {} };
  const everyCall = async (client: NodeClient) => {
    const { resourceVersion } = await client.list({ name: NODE });
    const watch = new AbortController();
    const ended = client.watch(NODE, { resourceVersion, timeoutSeconds: 1, signal: watch.signal }, { onEvent: () => undefined, onBookmark: () => undefined });
    await client.patch(NODE, { metadata: { labels: { 'imds-labeler.io/zone': '1' } } });
    await client.event(node, { reason: 'LabelsUpdated', message: 'm', type: 'Normal' });
    watch.abort();
    await ended;
  };

  it.each([
    { what: 'with impersonate: every request names the node as its user, and only the user', impersonate: AS, expected: [AS, AS, AS, AS] },
    { what: 'without: no request impersonates', impersonate: undefined, expected: ['', '', '', ''] },
  ])('$what', async ({ impersonate, expected }) => {
    const client = await clientFor(kubeconfig('impersonating', { server: recorder.url }), impersonate ? { impersonate } : {});
    const before = recorder.impersonations.length;
    await everyCall(client);
    // Constrained impersonation of the associated node takes the user name alone: a group, uid or extra would make it ask for plain impersonate.
    expect(recorder.impersonations.slice(before)).toEqual(expected);
  });

  const legacy = 'users "system:node:node-0" is forbidden: User "system:serviceaccount:kube-system:imds-labeler" cannot impersonate resource "users" in API group "" at the cluster scope';
  const constrained = 'nodes "node-0" is forbidden: User "system:serviceaccount:kube-system:imds-labeler" cannot impersonate-on:associated-node:list resource "nodes" in API group "" at the cluster scope';
  const associated = 'nodes.authentication.k8s.io "*" is forbidden: User "system:serviceaccount:kube-system:imds-labeler" cannot impersonate:associated-node resource "nodes" in API group "authentication.k8s.io" at the cluster scope';
  const asNode = 'nodes "node-1" is forbidden: node "node-0" is not allowed to modify node "node-1"';
  it.each([
    { what: 'a cluster without constrained impersonation (before 1.36, or the gate off)', message: legacy, refusal: true },
    { what: 'RBAC without impersonate-on:associated-node:<verb>', message: constrained, refusal: true },
    { what: 'RBAC without impersonate:associated-node', message: associated, refusal: true },
    { what: 'a refusal of what the node asked for (NodeRestriction)', message: asNode, refusal: false },
  ])('a 403 for $what: refusal=$refusal', async ({ message, refusal }) => {
    const client = await clientFor(kubeconfig('refused', { server: sandbox.url }), { impersonate: AS });
    sandbox.setFaults({ faults: [{ verb: 'list', status: 403, message }] });
    const err = await failure(client.list({ name: NODE }));
    expect(err).toMatchObject({ kind: 'forbidden', status: 403 });
    expect(err.message).toContain(`403 Forbidden: ${message}`);
    expect(err.message.includes('kube.identity is node, and acting as the node needs Kubernetes 1.36+')).toBe(refusal);
    expect(client.health?.()).toEqual(refusal ? { ok: false, reason: `the API server refuses to let this service account act as ${AS} (kube.identity node); the log says why` } : { ok: true });
    // Granted later (RBAC applied, the mode changed back): the next answer makes it healthy again.
    sandbox.setFaults({ faults: [] });
    await client.list({ name: NODE });
    expect(client.health?.()).toEqual({ ok: true });
  });
});

/** An HTTP CONNECT proxy on 127.0.0.1, counting the tunnels it opens. */
async function startConnectProxy(): Promise<typeof proxy> {
  const sockets = new Set<net.Socket>();
  let connects = 0;
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects++;
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get connects() {
      return connects;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Plain HTTP in front of the sandbox that records each request's Authorization and impersonation headers. */
async function startRecorder(target: number): Promise<typeof recorder> {
  const authorizations: string[] = [];
  const impersonations: string[] = [];
  const server = http.createServer((req, res) => {
    authorizations.push(String(req.headers.authorization ?? ''));
    const headers = Object.keys(req.headers).filter((h) => h.startsWith('impersonate-'));
    impersonations.push(headers.map((h) => (h === 'impersonate-user' ? String(req.headers[h]) : `${h}: ${String(req.headers[h])}`)).join(', '));
    const upstream = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    authorizations,
    impersonations,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
