import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { configSchema } from '../../src/config/schema.ts';
import { ImdsClient, RECHECK_CONFIGURED_VERSION_MS, type ImdsClientOptions } from '../../src/imds/client.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../testbed/imds-emulator/server.ts';
import type { FaultSpec } from '../../testbed/imds-emulator/faults.ts';
import { createImds } from '../../src/imds/index.ts';
import { RateLimiter } from '../../src/imds/rateLimiter.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { FakeClock } from '../helpers/fakeClock.ts';
import { IMDS_STATUSES } from '../helpers/imdsStatuses.ts';
import { imdsFailure, metricSum } from '../helpers/metrics.ts';

// The client against the IMDS emulator over real HTTP: the documented behaviour of IMDS.

const INSTANCE = '/metadata/instance';
const emulators: Emulator[] = [];
afterEach(async () => {
  while (emulators.length > 0) await emulators.pop()!.close();
});

async function emulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const started = await startEmulator({ port: 0, ...options });
  emulators.push(started);
  return started;
}

function makeClient(url: string, options: Partial<ImdsClientOptions> = {}): { client: ImdsClient; metrics: Metrics } {
  const metrics = createMetrics({ version: 'test' });
  const client = new ImdsClient({
    endpoint: url,
    apiVersion: '2025-04-07',
    connectTimeoutMs: 2000,
    requestTimeoutMs: 5000,
    maxResponseBytes: 1024 * 1024,
    limiter: new RateLimiter({ requestsPerSecond: 2, burst: 2, clock: systemClock, metrics }),
    metrics,
    ...options,
  });
  return { client, metrics };
}


const fault = (spec: FaultSpec) => ({ faults: [{ path: INSTANCE, ...spec }] });
const fixtureVmSize = () => (builtInFixture('default') as { compute: { vmSize: string } }).compute.vmSize;

describe('ImdsClient against the emulator', () => {
  it('reads compute and network with one request', async () => {
    const imds = await emulator();
    const { client, metrics } = makeClient(imds.url);
    const document = await client.fetchInstance();
    expect(document.compute.vmSize).toBe(fixtureVmSize());
    expect(document.network).toBeDefined();
    expect(imds.requests()).toEqual({ total: 1, byPath: { [INSTANCE]: 1 } });
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'instance', code: '200' })).toBe(1);
  });

  it.each(IMDS_STATUSES)('HTTP $status from IMDS: retryable $retryable, one request', async ({ status, retryable }) => {
    const imds = await emulator({ faults: fault({ status, times: 1 }) });
    const { client, metrics } = makeClient(imds.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe('http');
    expect(error.status).toBe(status);
    expect(error.retryable).toBe(retryable);
    expect(imds.requests().total).toBe(1);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'instance', class: retryable ? 'retryable' : 'fatal', code: String(status) })).toBe(1);
    expect(await metricSum(metrics.imdsThrottled)).toBe(status === 429 ? 1 : 0);
    // The fault is used up: the next call reads the document.
    await expect(client.fetchInstance()).resolves.toBeDefined();
  });

  it('carries Retry-After on the error', async () => {
    const imds = await emulator({ faults: fault({ status: 429, retryAfter: 3, times: 1 }) });
    const { client } = makeClient(imds.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.retryAfterMs).toBe(3000);
  });

  it('reads /metadata/versions without an api-version', async () => {
    const imds = await emulator();
    const { client } = makeClient(imds.url);
    const versions = (await client.getJson('versions', '/metadata/versions', {})) as { apiVersions: string[] };
    expect(versions.apiVersions).toContain('2025-04-07');
  });
});

describe('api-version fallback against the emulator', () => {
  it('an older VM: falls back to the newest common version with two requests, then one per call', async () => {
    const imds = await emulator({ supportedVersions: ['2024-03-15', '2023-11-15', '2021-02-01'] });
    const { client, metrics } = makeClient(imds.url);
    const document = await client.fetchInstance();
    expect(document.compute.vmSize).toBe(fixtureVmSize());
    expect(imds.requests().total).toBe(2);
    expect(client.apiVersion).toBe('2024-03-15');
    await client.fetchInstance();
    expect(imds.requests().total).toBe(3);
    expect(await metricSum(metrics.imdsApiVersionFallbacks, { to_version: '2024-03-15' })).toBe(1);
  });

  it('a fallback is not for life: the configured version is asked for again every 10 minutes, and kept once offered', async () => {
    const clock = new FakeClock();
    const imds = await emulator({ supportedVersions: ['2021-02-01'] });
    const { client, metrics } = makeClient(imds.url, { clock });
    const requests = async () => {
      const before = imds.requests().total;
      const document = await client.fetchInstance();
      return { requests: imds.requests().total - before, answeredBy: document.apiVersion, using: client.apiVersion };
    };
    const fallback = { requests: 1, answeredBy: '2021-02-01', using: '2021-02-01' };
    expect(await requests()).toEqual({ ...fallback, requests: 2 });
    expect(await requests()).toEqual(fallback);
    await clock.advance(RECHECK_CONFIGURED_VERSION_MS - 1);
    expect(await requests()).toEqual(fallback);
    // Still refused after 10 minutes: that one poll asks twice, the next ones once.
    await clock.advance(1);
    expect(await requests()).toEqual({ ...fallback, requests: 2 });
    expect(await requests()).toEqual(fallback);
    // The host offers the configured version again: back to it, one request per poll.
    imds.setFaults({ supportedVersions: ['2025-04-07', '2021-02-01'], faults: [] });
    await clock.advance(RECHECK_CONFIGURED_VERSION_MS);
    const configured = { requests: 1, answeredBy: '2025-04-07', using: '2025-04-07' };
    expect(await requests()).toEqual(configured);
    await clock.advance(RECHECK_CONFIGURED_VERSION_MS);
    expect(await requests()).toEqual(configured);
    expect(await metricSum(metrics.imdsApiVersionFallbacks, { to_version: '2021-02-01' })).toBe(1);
  });

  it('a VM with no version in common: the 400 after one request', async () => {
    const imds = await emulator({ supportedVersions: ['2030-01-01'] });
    const { client } = makeClient(imds.url);
    const error = await imdsFailure(client.fetchInstance());
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
    expect(imds.requests().total).toBe(1);
    expect(client.apiVersion).toBe('2025-04-07');
  });
});

describe('text format rules', () => {
  it('a leaf with format=text answers the bare value', async () => {
    const imds = await emulator();
    const { client } = makeClient(imds.url);
    const text = await client.getText('instance', `${INSTANCE}/compute/vmSize`, { 'api-version': '2025-04-07', format: 'text' });
    expect(text).toBe(fixtureVmSize());
  });

  it.each<{ query: Record<string, string> }>([{ query: {} }, { query: { format: 'json' } }])('a leaf asked as JSON ($query) is a 400, not retried', async ({ query }) => {
    const imds = await emulator();
    const { client } = makeClient(imds.url);
    const error = await imdsFailure(client.getJson('instance', `${INSTANCE}/compute/vmSize`, { 'api-version': '2025-04-07', ...query }));
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
    expect(imds.requests().total).toBe(1);
  });

  it('a non-leaf reads as JSON', async () => {
    const imds = await emulator();
    const { client } = makeClient(imds.url);
    const compute = (await client.getJson('instance', `${INSTANCE}/compute`, { 'api-version': '2025-04-07' })) as Record<string, unknown>;
    expect(compute.vmSize).toBe(fixtureVmSize());
  });

  it('a non-leaf asked as text is not an instance document', async () => {
    const imds = await emulator();
    const { client } = makeClient(imds.url);
    const error = await imdsFailure(client.getJson('instance', INSTANCE, { 'api-version': '2025-04-07', format: 'text' }));
    expect(error.kind).toBe('schema');
  });
});

describe('misbehaving IMDS (or something in its place)', () => {
  it.each<{ name: string; spec: FaultSpec; kind: string; code: string; retryable: boolean }>([
    { name: 'hang', spec: { hang: true }, kind: 'timeout', code: 'timeout', retryable: true },
    { name: 'slow drip', spec: { slowDrip: { bytes: 1, intervalMs: 1000 } }, kind: 'timeout', code: 'timeout', retryable: true },
    { name: 'reset', spec: { reset: true }, kind: 'network', code: 'reset', retryable: true },
    { name: 'truncated body', spec: { truncate: true }, kind: 'network', code: 'reset', retryable: true },
    { name: 'malformed JSON', spec: { malformed: true }, kind: 'schema', code: 'schema', retryable: false },
    { name: 'HTML page with 200', spec: { html: 200 }, kind: 'schema', code: 'schema', retryable: false },
    { name: 'HTML page with 500', spec: { html: true }, kind: 'http', code: '500', retryable: true },
    { name: '10 MiB body', spec: { hugeBody: { mebibytes: 10 } }, kind: 'too-large', code: 'too_large', retryable: false },
  ])('$name → $kind ($code)', async ({ spec, kind, code, retryable }) => {
    const imds = await emulator({ faults: fault({ ...spec, times: 1 }) });
    const { client, metrics } = makeClient(imds.url, { requestTimeoutMs: 500 });
    const error = await imdsFailure(client.fetchInstance());
    expect(error.kind).toBe(kind);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(imds.requests().total).toBe(1);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'instance', class: retryable ? 'retryable' : 'fatal', code })).toBe(1);
  });
});

describe('createImds: retries and the shared rate limit against the emulator', () => {
  const imdsConfig = (endpoint: string, imds: Record<string, unknown> = {}) => configSchema.parse({ imds: { endpoint, ...imds } }).imds;

  it('retries 410, 500 and 429 until the document comes', async () => {
    const imds = await emulator({ faults: { faults: [{ path: INSTANCE, statuses: [410, 500, 429] }] } });
    const metrics = createMetrics({ version: 'test' });
    const stack = createImds(imdsConfig(imds.url, { rateLimit: { requestsPerSecond: 3, burst: 1 } }), { metrics, random: () => 0 });
    const document = await stack.fetchInstance();
    expect(document.compute.vmSize).toBe(fixtureVmSize());
    expect(imds.requests().total).toBe(4);
    expect(await metricSum(metrics.imdsRetries, { imds_endpoint: 'instance' })).toBe(3);
    expect(await metricSum(metrics.imdsErrors, { imds_endpoint: 'instance', class: 'retryable' })).toBe(3);
  });

  it('does not retry a 404', async () => {
    const imds = await emulator({ faults: fault({ status: 404, times: 1 }) });
    const metrics = createMetrics({ version: 'test' });
    const stack = createImds(imdsConfig(imds.url), { metrics, random: () => 0 });
    const error = await imdsFailure(stack.fetchInstance());
    expect(error.status).toBe(404);
    expect(imds.requests().total).toBe(1);
    expect(await metricSum(metrics.imdsRetries)).toBe(0);
  });

  it('falls back and retries within one call', async () => {
    const imds = await emulator({ supportedVersions: ['2024-07-17'], faults: { faults: [{ path: INSTANCE, statuses: [500] }] } });
    const stack = createImds(imdsConfig(imds.url), { random: () => 0 });
    await stack.fetchInstance();
    // 500, then (retry) 400 with newest-versions, then 200 on the fallback version
    expect(imds.requests().total).toBe(3);
    expect(stack.client.apiVersion).toBe('2024-07-17');
  });

  it('a storm of concurrent fetches through the shared limiter is never throttled by IMDS', async () => {
    // Control: without the limiter, the same storm gets 429s from the emulator (5 per second).
    const unthrottled = await emulator();
    const control = makeClient(unthrottled.url, { limiter: { acquire: async () => {} } });
    await Promise.allSettled(Array.from({ length: 10 }, () => control.client.fetchInstance()));
    expect(await metricSum(control.metrics.imdsThrottled)).toBeGreaterThan(0);

    const imds = await emulator();
    const metrics = createMetrics({ version: 'test' });
    const stack = createImds(imdsConfig(imds.url), { metrics });
    const documents = await Promise.all(Array.from({ length: 10 }, () => stack.fetchInstance()));
    expect(documents).toHaveLength(10);
    expect(imds.requests().total).toBe(10);
    expect(await metricSum(metrics.imdsThrottled)).toBe(0);
    expect(await metricSum(metrics.imdsRetries)).toBe(0);
    expect(await metricSum(metrics.imdsRateLimiterWaits)).toBe(8); // the burst of 2 went at once, the rest waited
  });

  it.each([
    ['an empty compute section', { fixture: { compute: {}, network: {} } }, 'missing-fields', /compute\.location.*compute\.vmSize/],
    ['a document without vmSize and location', { fixture: { compute: { vmId: 'x', zone: '1', platformFaultDomain: '0' } } }, 'missing-fields', /compute\.vmSize/],
    ['JSON nested 3,000 levels deep (6 KB)', { faults: fault({ deepNesting: { levels: 3_000 } }) }, 'too-deep', /nested deeper than/],
  ] as const)('%s is a document error, not retried', async (_name, options, reason, message) => {
    const imds = await emulator(options as EmulatorOptions);
    const metrics = createMetrics({ version: 'test' });
    const stack = createImds(imdsConfig(imds.url), { metrics, random: () => 0 });
    const error = await imdsFailure(stack.fetchInstance());
    expect(error.kind).toBe('schema');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(message);
    expect(imds.requests().total).toBe(1);
    expect(await metricSum(metrics.imdsRetries)).toBe(0);
    expect(await metricSum(metrics.imdsInvalidDocuments, { reason })).toBe(1);
  });

  it('an abort ends a retrying fetch at once', async () => {
    const imds = await emulator({ faults: fault({ status: 503 }) });
    const stack = createImds(imdsConfig(imds.url), { random: () => 0.99 });
    const controller = new AbortController();
    const pending = imdsFailure(stack.fetchInstance(controller.signal));
    while (imds.requests().total < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    const error = await pending;
    expect(error.kind).toBe('aborted');
  });
});
