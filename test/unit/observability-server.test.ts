import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.ts';
import { startObservabilityServer, type HealthStatus, type ObservabilityServer } from '../../src/observability/server.ts';

let server: ObservabilityServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(health: () => HealthStatus = () => ({ ok: true }), ready: () => HealthStatus = () => ({ ok: true })) {
  const metrics = createMetrics({ version: '1.2.3' });
  server = await startObservabilityServer({ port: 0, address: '127.0.0.1', registry: metrics.registry, health, ready });
  return { metrics, server };
}

function call(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('observability server', () => {
  it('serves the registry on /metrics in the Prometheus text format', async () => {
    const { metrics, server: s } = await start();
    metrics.imdsThrottled.inc({ imds_endpoint: 'instance' });
    const res = await call(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.body).toContain('# TYPE imds_labeler_imds_throttled_total counter');
    expect(res.body).toContain('imds_labeler_imds_throttled_total{imds_endpoint="instance"} 1');
    expect(res.body).toMatch(/imds_labeler_build_info\{version="1\.2\.3",revision="unknown",nodejs_version="[^"]+"\} 1/);
  });

  it('ignores the query string and answers HEAD without a body', async () => {
    const { server: s } = await start();
    expect((await call(`${s.url}/metrics?x=1`)).status).toBe(200);
    const head = await call(`${s.url}/metrics`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
  });

  it.each(['/healthz', '/livez'])('answers %s 200 when healthy and 503 with the reason when not', async (path) => {
    let status: HealthStatus = { ok: true };
    const { server: s } = await start(() => status);
    expect(await call(`${s.url}${path}`)).toMatchObject({ status: 200, body: 'ok\n' });
    status = { ok: false, reason: 'node watch stalled for 10m' };
    expect(await call(`${s.url}${path}`)).toMatchObject({ status: 503, body: 'node watch stalled for 10m\n' });
    status = { ok: false };
    expect(await call(`${s.url}${path}`)).toMatchObject({ status: 503, body: 'unhealthy\n' });
  });

  it('treats a throwing health check as unhealthy', async () => {
    const { server: s } = await start(() => {
      throw new Error('boom');
    });
    const res = await call(`${s.url}/healthz`);
    expect(res.status).toBe(503);
    expect(res.body).toContain('boom');
  });

  it('answers /readyz from the readiness callback', async () => {
    let ready: HealthStatus = { ok: false };
    const { server: s } = await start(undefined, () => ready);
    expect(await call(`${s.url}/readyz`)).toMatchObject({ status: 503, body: 'not ready\n' });
    ready = { ok: false, reason: 'the last node patch was refused' };
    expect(await call(`${s.url}/readyz`)).toMatchObject({ status: 503, body: 'the last node patch was refused\n' });
    ready = { ok: true };
    expect(await call(`${s.url}/readyz`)).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('treats a throwing readiness check as not ready', async () => {
    const { server: s } = await start(undefined, () => {
      throw new Error('boom');
    });
    expect(await call(`${s.url}/readyz`)).toMatchObject({ status: 503, body: 'readiness check failed: boom\n' });
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const { server: s } = await start();
    expect((await call(`${s.url}/`)).status).toBe(404);
    expect((await call(`${s.url}/metrics/x`)).status).toBe(404);
    expect((await call(`${s.url}/constructor`)).status).toBe(404);
    const post = await call(`${s.url}/metrics`, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('answers 500 when collecting metrics fails', async () => {
    const { metrics, server: s } = await start();
    const gauge = metrics.registry.getSingleMetric('imds_labeler_managed_labels') as unknown as { collect: () => void };
    gauge.collect = () => {
      throw new Error('collector broke');
    };
    const res = await call(`${s.url}/metrics`);
    expect(res.status).toBe(500);
    expect(res.body).toContain('collector broke');
  });

  it('reports the bound port and closes even with a keep-alive client connected', async () => {
    const { server: s } = await start();
    expect(s.port).toBeGreaterThan(0);
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    const res = await fetch(`${s.url}/metrics`, { headers: { connection: 'keep-alive' } });
    await res.text();
    await s.close();
    server = undefined;
    await expect(fetch(`${s.url}/metrics`)).rejects.toThrow();
  });

  it('rejects when the port is taken', async () => {
    const { server: s } = await start();
    const metrics = createMetrics({ version: 'x' });
    await expect(
      startObservabilityServer({ port: s.port, address: '127.0.0.1', registry: metrics.registry, health: () => ({ ok: true }), ready: () => ({ ok: true }) }),
    ).rejects.toMatchObject({ kind: 'listen', code: 'EADDRINUSE', port: s.port, message: `cannot listen on 127.0.0.1:${s.port}: EADDRINUSE` });
  });
});
