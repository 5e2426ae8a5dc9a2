import { spawn, type ChildProcess } from 'node:child_process';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { ImdsClient, type ImdsClientOptions } from '../../src/imds/client.ts';
import { DocumentError } from '../../src/imds/document.ts';
import { RateLimiter } from '../../src/imds/rateLimiter.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { ZONAL_WIRE } from '../helpers/instanceDocuments.ts';
import { imdsFailure, metricSum } from '../helpers/metrics.ts';
import { IMDS_STATUSES } from '../helpers/imdsStatuses.ts';

// Real HTTP on 127.0.0.1: a server per test plays IMDS, or something hostile in its place.

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

interface TestServer {
  url: string;
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  cleanups.push(close);
  return { url: `http://127.0.0.1:${port}`, port, seen, close };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
};

const imdsOk = (_req: IncomingMessage, res: ServerResponse) => json(res, 200, ZONAL_WIRE);

interface Made {
  client: ImdsClient;
  metrics: Metrics;
  tokens: () => number;
  logs: Record<string, unknown>[];
}

function makeClient(endpoint: string, options: Partial<ImdsClientOptions> = {}): Made {
  const metrics = createMetrics({ version: 'test' });
  const limiter = new RateLimiter({ requestsPerSecond: 2, burst: 2, clock: systemClock, metrics });
  let tokens = 0;
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const client = new ImdsClient({
    endpoint,
    apiVersion: '2025-04-07',
    connectTimeoutMs: 2000,
    requestTimeoutMs: 5000,
    maxResponseBytes: 1024 * 1024,
    limiter: {
      acquire: (signal) => {
        tokens++;
        return limiter.acquire(signal);
      },
    },
    metrics,
    logger,
    ...options,
  });
  return { client, metrics, tokens: () => tokens, logs };
}


describe('ImdsClient.fetchInstance: the request', () => {
  it('sends exactly one GET /metadata/instance with Metadata: true and nothing that IMDS refuses', async () => {
    const server = await serve(imdsOk);
    const { client, metrics, tokens } = makeClient(server.url);
    const document = await client.fetchInstance();
    expect(document.compute.vmSize).toBe('Standard_D4s_v5');
    expect(document.compute.platformFaultDomain).toBe(0);
    expect(document.network).toBeDefined();
    expect(server.seen).toHaveLength(1);
    const [request] = server.seen;
    expect(request!.method).toBe('GET');
    expect(request!.url).toBe('/metadata/instance?api-version=2025-04-07');
    expect(request!.headers.metadata).toBe('true');
    expect(request!.headers['x-forwarded-for']).toBeUndefined();
    expect(request!.headers.forwarded).toBeUndefined();
    expect(request!.headers['proxy-authorization']).toBeUndefined();
    expect(tokens()).toBe(1);
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'instance', code: '200' })).toBe(1);
    expect(await metricSum(metrics.imdsRequestDuration, { imds_endpoint: 'instance', code: '200' })).toBeGreaterThan(0);
    expect(await metricSum(metrics.imdsErrors)).toBe(0);
    expect(await metricSum(metrics.imdsLastSuccess)).toBeGreaterThan(1_600_000_000);
  });

  it('one request per call, every call', async () => {
    const server = await serve(imdsOk);
    const { client, tokens } = makeClient(server.url);
    for (let i = 1; i <= 3; i++) {
      await client.fetchInstance();
      expect(server.seen).toHaveLength(i);
      expect(tokens()).toBe(i);
    }
  });

  it('ignores any path in the endpoint URL and always asks /metadata/instance', async () => {
    const server = await serve(imdsOk);
    const { client } = makeClient(`${server.url}/some/prefix/`);
    await client.fetchInstance();
    expect(server.seen[0]!.url).toBe('/metadata/instance?api-version=2025-04-07');
  });

  it('refuses a non-http endpoint', () => {
    expect(() => makeClient('https://169.254.169.254')).toThrow(TypeError);
  });
});

describe('ImdsClient: never through a proxy', () => {
  it('goes straight to IMDS while HTTP_PROXY, HTTPS_PROXY and the global agent point at a dead proxy', async () => {
    let proxyConnections = 0;
    const proxy = net.createServer((socket) => {
      proxyConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const saved = { ...process.env };
    cleanups.push(() => {
      for (const key of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    });
    Object.assign(process.env, { HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, http_proxy: proxyUrl, https_proxy: proxyUrl, NO_PROXY: '', no_proxy: '' });
    // What NODE_USE_ENV_PROXY=1 would do at start-up: the global agent now routes through the proxy.
    const restore = http.setGlobalProxyFromEnv({ HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: '' });
    cleanups.push(() => void restore());

    const server = await serve(imdsOk);

    // The trap is live: a plain http.get on the global agent goes to the dead proxy and fails.
    await new Promise<void>((resolve) => {
      http.get(`${server.url}/metadata/instance?api-version=2025-04-07`, { headers: { Metadata: 'true' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', () => resolve());
    });
    expect(proxyConnections).toBeGreaterThanOrEqual(1);
    expect(server.seen).toHaveLength(0);
    const before = proxyConnections;

    const { client } = makeClient(server.url);
    const document = await client.fetchInstance();
    expect(document.compute.vmSize).toBe('Standard_D4s_v5');
    expect(server.seen).toHaveLength(1);
    expect(proxyConnections).toBe(before);
  });
});

describe('ImdsClient: redirects are errors, never followed', () => {
  it.each([301, 302, 303, 307, 308])('HTTP %i', async (status) => {
    const elsewhere = await serve(imdsOk);
    const server = await serve((_req, res) => {
      res.writeHead(status, { Location: `${elsewhere.url}/metadata/instance?api-version=2025-04-07` });
      res.end();
    });
    const { client, metrics } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('redirect');
    expect(error.status).toBe(status);
    expect(error.retryable).toBe(false);
    expect(error.code).toBe(String(status));
    expect(server.seen).toHaveLength(1);
    expect(elsewhere.seen).toHaveLength(0);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'instance', class: 'fatal', code: String(status) })).toBe(1);
  });
});

describe('ImdsClient: response size cap', () => {
  it('stops reading a 10 MiB body as soon as it passes the cap', async () => {
    const tenMiB = 10 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let written = 0;
    let finished = false;
    let closed!: () => void;
    const serverDone = new Promise<void>((resolve) => (closed = resolve));
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }); // chunked: no Content-Length to refuse early
      res.on('close', closed);
      res.on('finish', () => (finished = true));
      const pump = () => {
        if (res.destroyed) return;
        if (written >= tenMiB) return void res.end();
        written += chunk.length;
        res.write(chunk);
        setTimeout(pump, 2);
      };
      pump();
    });
    const made = makeClient(server.url, { maxResponseBytes: 1024 * 1024, requestTimeoutMs: 30_000 });
    const error = await imdsFailure(made.client.fetchInstance());
    await serverDone;
    expect(error.kind).toBe('too-large');
    expect(error.retryable).toBe(false);
    expect(error.code).toBe('too_large');
    expect(finished).toBe(false);
    expect(written).toBeLessThan(tenMiB / 2);
    expect(await metricSum(made.metrics.imdsErrors, { class: 'fatal', code: 'too_large' })).toBe(1);
  });

  it('refuses a Content-Length over the cap before reading the body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(10 * 1024 * 1024) });
      res.flushHeaders(); // headers only; the body never comes
    });
    const { client } = makeClient(server.url, { requestTimeoutMs: 20_000 });
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('too-large'); // not a timeout: it did not wait for the body
    expect(error.message).toContain('Content-Length');
  });

  it('accepts a body exactly at the cap', async () => {
    const body = JSON.stringify(ZONAL_WIRE);
    const server = await serve(imdsOk);
    const { client } = makeClient(server.url, { maxResponseBytes: Buffer.byteLength(body) });
    await expect(client.fetchInstance()).resolves.toBeDefined();
  });
});

describe('ImdsClient: timeouts and broken connections', () => {
  it('gives up on a server that never answers (total timeout)', async () => {
    const server = await serve(() => {});
    const { client, metrics } = makeClient(server.url, { requestTimeoutMs: 300 });
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('timeout');
    expect(error.code).toBe('timeout');
    expect(error.retryable).toBe(true);
    expect(await metricSum(metrics.imdsTimeouts, { imds_endpoint: 'instance' })).toBe(1);
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'instance', code: 'timeout' })).toBe(1);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'instance', class: 'retryable', code: 'timeout' })).toBe(1);
  });

  it('gives up on a body that stalls half-way (total timeout)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '5000' });
      res.write('{"compute":');
    });
    const { client } = makeClient(server.url, { requestTimeoutMs: 300 });
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('timeout');
  });

  it('gives up on a connection that never completes (connect timeout)', async () => {
    // A listener whose process is blocked never accepts: once its backlog is full, new
    // connections hang in the handshake.
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '-e',
        `const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(s.address().port+'\\n',()=>Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,60000));});`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => void child.kill('SIGKILL'));
    const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    const fillers: net.Socket[] = [];
    cleanups.push(() => fillers.forEach((s) => s.destroy()));
    for (let i = 0; i < 2; i++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      fillers.push(socket);
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    }
    const { client, metrics } = makeClient(`http://127.0.0.1:${port}`, { connectTimeoutMs: 300, requestTimeoutMs: 20_000 });
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('timeout');
    expect(error.code).toBe('connect_timeout');
    expect(error.retryable).toBe(true);
    expect(await metricSum(metrics.imdsTimeouts, { imds_endpoint: 'instance' })).toBe(1);
  });

  it('reports a reset connection as retryable', async () => {
    const server = await serve((req) => req.socket.resetAndDestroy());
    const { client, metrics } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('network');
    expect(error.code).toBe('reset');
    expect(error.retryable).toBe(true);
    expect(await metricSum(metrics.imdsErrors, { class: 'retryable', code: 'reset' })).toBe(1);
  });

  it('reports a body cut short as a retryable reset', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
      res.write('{"compute":{', () => res.socket?.destroy());
    });
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('network');
    expect(error.code).toBe('reset');
    expect(error.retryable).toBe(true);
  });

  it('reports a refused connection as retryable', async () => {
    const server = await serve(imdsOk);
    await server.close();
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('network');
    expect(error.code).toBe('refused');
    expect(error.retryable).toBe(true);
  });
});

describe('ImdsClient: abort', () => {
  it('an abort mid-request rejects with an aborted error, not counted as an IMDS error', async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const server = await serve(() => arrived());
    const { client, metrics } = makeClient(server.url, { requestTimeoutMs: 30_000 });
    const controller = new AbortController();
    const pending = imdsFailure(client.fetchInstance(controller.signal));
    await arrival;
    controller.abort();
    const error = await pending;
    expect(error.kind).toBe('aborted');
    expect(error.retryable).toBe(false);
    expect(await metricSum(metrics.imdsErrors)).toBe(0);
    expect(await metricSum(metrics.imdsRequests, { code: 'aborted' })).toBe(1);
  });

  it('an already-aborted signal sends nothing', async () => {
    const server = await serve(imdsOk);
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance(AbortSignal.abort()));
    expect(error.kind).toBe('aborted');
    expect(server.seen).toHaveLength(0);
  });
});

describe('ImdsClient: error messages quote IMDS\'s own error text, never the document', () => {
  const SECRET = 'Tag-Value-S3cret-9f8e7d';
  const withSecret = { compute: { ...ZONAL_WIRE.compute, tagsList: [{ name: 'db-password', value: SECRET }], tags: `db-password:${SECRET}` } };
  const documentText = JSON.stringify(withSecret);
  it.each<{ name: string; status: number; type: string; body: string; says: string }>([
    { name: 'the document labelled text/html', status: 200, type: 'text/html', body: documentText, says: 'bytes of HTML (Content-Type "text/html")' },
    { name: 'the document under a 503', status: 503, type: 'application/json', body: documentText, says: 'HTTP 503: ' },
    { name: 'the document under a 404, as text', status: 404, type: 'text/plain', body: documentText, says: 'HTTP 404: ' },
    { name: 'an error field beside the document', status: 500, type: 'application/json', body: JSON.stringify({ error: SECRET, ...withSecret }), says: 'not quoted' },
    { name: 'the document cut short under a 502', status: 502, type: 'application/json', body: documentText.slice(0, 300), says: 'not quoted' },
    { name: 'an HTML page that embeds the document', status: 502, type: 'text/html', body: `<html><body>${documentText}</body></html>`, says: 'not quoted' },
  ])('$name', async ({ status, type, body, says }) => {
    const server = await serve((_req, res) => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    });
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.message).toContain(says);
    expect(error.message).not.toContain(SECRET.slice(0, 10));
  });

  it.each<{ body: object; says: string }>([
    { body: { error: 'Not found' }, says: 'HTTP 404: "Not found"' },
    { body: { error: 'Bad request. api-version is invalid', 'newest-versions': ['2021-02-01'] }, says: 'Bad request. api-version is invalid' },
  ])('IMDS\'s error $body.error is kept', async ({ body, says }) => {
    const server = await serve((_req, res) => json(res, 404, body));
    const { client } = makeClient(server.url);
    expect((await imdsFailure(client.fetchInstance())).message).toContain(says);
  });
});

describe('ImdsClient: bodies that are not an instance document', () => {
  it.each<{ name: string; status: number; type: string; body: string }>([
    { name: 'an HTML page with 200', status: 200, type: 'text/html', body: '<!DOCTYPE html><html><body>Proxy login</body></html>' },
    { name: 'HTML labelled as JSON', status: 200, type: 'application/json', body: '<html>nope</html>' },
    { name: 'truncated JSON', status: 200, type: 'application/json', body: '{"compute":{"vmSize":' },
    { name: 'plain text', status: 200, type: 'text/plain', body: 'Standard_D4s_v5' },
    { name: 'a JSON array', status: 200, type: 'application/json', body: '[]' },
    { name: 'JSON without compute', status: 200, type: 'application/json', body: '{"network":{}}' },
    { name: 'a fault domain that is not a number', status: 200, type: 'application/json', body: '{"compute":{"platformFaultDomain":"one"}}' },
    { name: 'an empty body', status: 200, type: 'application/json', body: '' },
  ])('$name is a schema error, not retried', async ({ status, type, body }) => {
    const server = await serve((_req, res) => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    });
    const { client, metrics } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('schema');
    expect(error.retryable).toBe(false);
    expect(error.code).toBe('schema');
    expect(await metricSum(metrics.imdsRequests, { code: '200' })).toBe(1);
    expect(await metricSum(metrics.imdsErrors, { class: 'fatal', code: 'schema' })).toBe(1);
  });

  it('keeps the DocumentError as the cause', async () => {
    const server = await serve((_req, res) => json(res, 200, { compute: { platformFaultDomain: 'x' } }));
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.cause).toBeInstanceOf(DocumentError);
    expect(error.message).toContain('platformFaultDomain');
  });

  it('an HTML error page keeps its status', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html><body>Bad gateway</body></html>');
    });
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('http');
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(true);
  });
});

describe('ImdsClient: statuses', () => {
  it('40 statuses IMDS never uses make one `other` series, not 40, and keep the status in the error', async () => {
    const statuses = Array.from({ length: 40 }, (_, i) => 406 + i * 5).filter((n) => n !== 410 && n !== 429 && n !== 500 && n !== 503 && n !== 504);
    let next = 0;
    const server = await serve((_req, res) => json(res, statuses[next++]!, { error: 'odd' }));
    const { client, metrics } = makeClient(server.url);
    for (const status of statuses) {
      const error = await imdsFailure(client.fetchInstance());
      expect([error.status, error.code]).toEqual([status, 'other']);
      expect(error.message).toContain(`HTTP ${status}`);
    }
    for (const metric of [metrics.imdsRequests, metrics.imdsRequestDuration, metrics.imdsErrors]) {
      const codes = new Set((await metric.get()).values.map((v) => v.labels.code));
      expect([...codes]).toEqual(['other']);
    }
    expect(await metricSum(metrics.imdsRequests, { code: 'other' })).toBe(statuses.length);
  });

  it.each(IMDS_STATUSES)('HTTP $status: retryable $retryable, one request', async ({ status, retryable }) => {
    const server = await serve((_req, res) => json(res, status, { error: `status ${status}` }));
    const { client, metrics } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('http');
    expect(error.status).toBe(status);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain(`status ${status}`);
    expect(server.seen).toHaveLength(1);
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'instance', code: String(status) })).toBe(1);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'instance', class: retryable ? 'retryable' : 'fatal', code: String(status) })).toBe(1);
    expect(await metricSum(metrics.imdsThrottled, { imds_endpoint: 'instance' })).toBe(status === 429 ? 1 : 0);
  });

  it.each<{ header: string; ms: number }>([
    { header: '7', ms: 7000 },
    { header: 'Wed, 15 Jan 2025 12:00:30 GMT', ms: 30_000 },
  ])('keeps Retry-After ($header) on the error', async ({ header, ms }) => {
    const server = await serve((_req, res) => json(res, 429, { error: 'Too many requests' }, { 'Retry-After': header }));
    // The client reads an HTTP-date against its clock.
    const clock = { now: () => Date.UTC(2025, 0, 15, 12, 0, 0), sleep: systemClock.sleep };
    const { client } = makeClient(server.url, { clock });
    const error = await imdsFailure(client.fetchInstance());
    expect(error.retryAfterMs).toBe(ms);
  });
});

describe('ImdsClient: api-version fallback', () => {
  const OFFERED = ['2024-07-17', '2024-03-15', '2023-11-15'];
  const refusing = (supported: string[], offered = supported) => (req: IncomingMessage, res: ServerResponse) => {
    const version = new URL(req.url ?? '/', 'http://x').searchParams.get('api-version') ?? '';
    if (supported.includes(version)) return json(res, 200, ZONAL_WIRE);
    json(res, 400, {
      error: 'Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds',
      'newest-versions': offered,
    });
  };
  const versions = (server: TestServer) => server.seen.map((s) => new URL(s.url, 'http://x').searchParams.get('api-version'));

  it('switches to the newest common version: two requests once, then one per call', async () => {
    const server = await serve(refusing(OFFERED));
    const { client, metrics, logs, tokens } = makeClient(server.url);
    await client.fetchInstance();
    expect(versions(server)).toEqual(['2025-04-07', '2024-07-17']);
    expect(tokens()).toBe(2);
    expect(client.apiVersion).toBe('2024-07-17');
    await client.fetchInstance();
    expect(versions(server)).toEqual(['2025-04-07', '2024-07-17', '2024-07-17']);
    expect(await metricSum(metrics.imdsApiVersionFallbacks, { to_version: '2024-07-17' })).toBe(1);
    expect(await metricSum(metrics.imdsErrors)).toBe(0);
    expect(await metricSum(metrics.imdsRequests, { code: '400' })).toBe(1);
    const warnings = logs.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ from: '2025-04-07', to: '2024-07-17' });
  });

  it('concurrent calls that all hit the refusal switch, log and count once', async () => {
    const server = await serve(refusing(OFFERED));
    const { client, metrics, logs } = makeClient(server.url);
    await Promise.all([client.fetchInstance(), client.fetchInstance()]);
    expect(server.seen).toHaveLength(4);
    expect(await metricSum(metrics.imdsApiVersionFallbacks)).toBe(1);
    expect(logs.filter((l) => l.level === 40)).toHaveLength(1);
  });

  it('skips offered versions this agent does not know', async () => {
    const server = await serve(refusing(['2024-03-15'], ['2099-01-01', '2024-03-15']));
    const { client } = makeClient(server.url);
    await client.fetchInstance();
    expect(versions(server)).toEqual(['2025-04-07', '2024-03-15']);
  });

  it.each<{ name: string; offered: unknown }>([
    { name: 'no version in common', offered: ['2099-01-01'] },
    { name: 'only the refused version itself', offered: ['2025-04-07'] },
    { name: 'no list at all', offered: undefined },
    { name: 'a list of non-strings', offered: [20240717] },
  ])('$name: fails with the 400 after one request', async ({ offered }) => {
    const server = await serve((_req, res) => json(res, 400, { error: 'Bad request', ...(offered === undefined ? {} : { 'newest-versions': offered }) }));
    const { client, metrics } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
    expect(server.seen).toHaveLength(1);
    expect(client.apiVersion).toBe('2025-04-07');
    expect(await metricSum(metrics.imdsApiVersionFallbacks)).toBe(0);
  });

  it('retries only once: a second refusal is the answer', async () => {
    const server = await serve(refusing([], OFFERED));
    const { client } = makeClient(server.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.status).toBe(400);
    expect(versions(server)).toEqual(['2025-04-07', '2024-07-17']);
  });
});

describe('ImdsClient.getJson and getText', () => {
  it('getJson reads any JSON resource with the caller query, metered under its endpoint', async () => {
    const server = await serve((_req, res) => json(res, 200, { apiVersions: ['2024-07-17'] }));
    const { client, metrics, tokens } = makeClient(server.url);
    expect(await client.getJson('versions', '/metadata/versions', {})).toEqual({ apiVersions: ['2024-07-17'] });
    expect(await client.getJson('scheduledevents', '/metadata/scheduledevents', { 'api-version': '2020-07-01' })).toBeDefined();
    expect(server.seen.map((s) => s.url)).toEqual(['/metadata/versions', '/metadata/scheduledevents?api-version=2020-07-01']);
    expect(server.seen.every((s) => s.headers.metadata === 'true')).toBe(true);
    expect(tokens()).toBe(2);
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'versions', code: '200' })).toBe(1);
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'scheduledevents', code: '200' })).toBe(1);
    expect(await metricSum(metrics.imdsLastSuccess)).toBe(0); // only instance fetches mark success
  });

  it('getText returns the body as is', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('Standard_D4s_v5');
    });
    const { client } = makeClient(server.url);
    const text = await client.getText('instance', '/metadata/instance/compute/vmSize', { 'api-version': '2025-04-07', format: 'text' });
    expect(text).toBe('Standard_D4s_v5');
    expect(server.seen[0]!.url).toBe('/metadata/instance/compute/vmSize?api-version=2025-04-07&format=text');
  });

  it('getJson fails like fetchInstance', async () => {
    const server = await serve((_req, res) => json(res, 500, { error: 'Internal server error' }));
    const { client, metrics } = makeClient(server.url);
    const error = await imdsFailure(client.getJson('scheduledevents', '/metadata/scheduledevents', { 'api-version': '2020-07-01' }));
    expect(error.endpoint).toBe('scheduledevents');
    expect(error.retryable).toBe(true);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'scheduledevents', class: 'retryable', code: '500' })).toBe(1);
  });
});
