import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { FaultEngine, FaultPlanError, parseFaultPlan, parseFaultPlanText, type FaultPlan } from '../../testbed/imds-emulator/faults.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { emulatorPerTest, imds, ManualClock, rawRequest, requestFailure } from '../helpers/emulator.ts';

const V = '2021-02-01';
const INSTANCE = `/metadata/instance?api-version=${V}`;

const emulator = emulatorPerTest();

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'emulator-faults-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const status = async (e: Emulator, path = INSTANCE) => (await imds(e.url, path)).status;

describe('fault plan validation', () => {
  it.each<[string, unknown, string]>([
    ['a status that is not a number', { faults: [{ status: '500' }] }, 'faults[0].status'],
    ['a status out of range', { faults: [{ status: 99 }] }, 'faults[0].status'],
    ['a status above 599', { faults: [{ status: 600 }] }, 'faults[0].status'],
    ['a misspelt field', { faults: [{ satus: 500 }] }, 'faults[0].satus'],
    ['an unknown top-level field', { fault: [] }, 'fault'],
    ['faults that are not a list', { faults: { status: 500 } }, 'faults'],
    ['a fault without an action', { faults: [{ path: '/metadata' }] }, 'faults[0]'],
    ['a fault with two actions', { faults: [{ hang: true, reset: true }] }, 'faults[0]'],
    ['an empty status sequence', { faults: [{ statuses: [] }] }, 'faults[0].statuses'],
    ['a status in a sequence out of range', { faults: [{ statuses: [429, 1000] }] }, 'faults[0].statuses[1]'],
    ['a sequence with times', { faults: [{ statuses: [500], times: 2 }] }, 'faults[0].statuses'],
    ['a relative path', { faults: [{ path: 'metadata/instance', status: 500 }] }, 'faults[0].path'],
    ['a zero drip size', { faults: [{ slowDrip: { bytes: 0 } }] }, 'faults[0].slowDrip.bytes'],
    ['an unknown slowDrip field', { faults: [{ slowDrip: { chunk: 3 } }] }, 'faults[0].slowDrip.chunk'],
    ['a negative huge body', { faults: [{ hugeBody: { mebibytes: -1 } }] }, 'faults[0].hugeBody.mebibytes'],
    ['a bad truncate', { faults: [{ truncate: { after: 3 } }] }, 'faults[0].truncate'],
    ['a bad html status', { faults: [{ html: 'yes' }] }, 'faults[0].html'],
    ['a negative retryAfter', { faults: [{ status: 429, retryAfter: -1 }] }, 'faults[0].retryAfter'],
    ['a negative latency', { faults: [{ latencyMs: -5 }] }, 'faults[0].latencyMs'],
    ['a zero forSeconds', { faults: [{ status: 410, forSeconds: 0 }] }, 'faults[0].forSeconds'],
    ['a fractional times', { faults: [{ status: 500, times: 1.5 }] }, 'faults[0].times'],
    ['the second fault', { faults: [{ status: 500 }, { hang: 'yes' }] }, 'faults[1].hang'],
    ['a version that is not one', { supportedVersions: ['latest'] }, 'supportedVersions[0]'],
    ['no versions at all', { supportedVersions: [] }, 'supportedVersions'],
    ['a negative rate limit', { rateLimitPerSecond: -1 }, 'rateLimitPerSecond'],
    ['a plan that is a list', [], '(plan)'],
  ])('rejects %s, naming %s', (_name, plan, field) => {
    let caught: unknown;
    try {
      parseFaultPlan(plan);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FaultPlanError);
    expect((caught as FaultPlanError).message).toContain(`${field}:`);
    if (field !== '(plan)') expect((caught as FaultPlanError).field).toBe(field);
  });

  it('says what the fields are when one is unknown', () => {
    expect(() => parseFaultPlan({ faults: [{ satus: 500 }] })).toThrow(/unknown field \(known: path, times, forSeconds, .*status, statuses, hang/);
  });

  it('accepts every documented fault', () => {
    const plan = parseFaultPlan({
      supportedVersions: ['2021-02-01'],
      rateLimitPerSecond: 0,
      faults: [
        { path: '/metadata/instance', statuses: [429, 429, 500], retryAfter: 1 },
        { status: 410, forSeconds: 60 },
        { status: 500, times: 2 },
        { latencyMs: 250 },
        { hang: true },
        { slowDrip: { bytes: 10, intervalMs: 100 } },
        { slowDrip: {} },
        { truncate: true },
        { truncate: { afterBytes: 3 } },
        { malformed: true },
        { html: 200 },
        { html: true },
        { hugeBody: { mebibytes: 64 } },
        { reset: true },
        { hang: false, latencyMs: 5 },
      ],
    });
    expect(plan.faults).toHaveLength(15);
    expect(plan.faults[0]!.path).toBe('/metadata/instance');
    expect(plan.faults[1]!.path).toBe('/metadata');
    expect(plan.faults[6]!.slowDrip).toEqual({ bytes: 1, intervalMs: 1000 });
  });

  it('reads YAML and JSON text, and an empty file as no faults', () => {
    expect(parseFaultPlanText('faults:\n  - statuses: [500]\n', 'f.yaml').faults[0]!.statuses).toEqual([500]);
    expect(parseFaultPlanText('{"faults":[{"reset":true}]}', 'f.json').faults[0]!.reset).toBe(true);
    expect(parseFaultPlanText('', 'empty.yaml')).toEqual({ faults: [] });
    expect(() => parseFaultPlanText('faults: [', 'bad.yaml')).toThrow(/bad\.yaml: not valid YAML or JSON/);
    expect(() => parseFaultPlanText('faults:\n  - status: nope\n', 'f.yaml')).toThrow(/^f\.yaml: faults\[0\]\.status: /);
  });

  it('startEmulator rejects a bad plan and a bad faults file', async () => {
    await expect(startEmulator({ faults: { faults: [{ status: 1 }] } })).rejects.toThrow(FaultPlanError);
    const path = join(dir, 'bad-start.yaml');
    writeFileSync(path, 'faults:\n  - hang: true\n    reset: true\n');
    await expect(startEmulator({ faults: path })).rejects.toThrow(/bad-start\.yaml: faults\[0\]: a fault has one action/);
    await expect(startEmulator({ faults: join(dir, 'missing.yaml') })).rejects.toThrow(/cannot read faults file/);
  });

  it('setFaults rejects a bad plan and keeps the one in force', async () => {
    const e = await emulator({ faults: { faults: [{ status: 503 }] } });
    expect(() => e.setFaults({ faults: [{ status: 42 }] })).toThrow(FaultPlanError);
    expect(await status(e)).toBe(503);
  });
});

describe('the fault engine', () => {
  it('matches path prefixes on segment boundaries, case-insensitively', () => {
    const engine = new FaultEngine(parseFaultPlan({ faults: [{ path: '/metadata/instance', status: 500 }] }));
    expect(engine.decide('/metadata/instance', 0)?.action).toEqual({ kind: 'status', status: 500 });
    expect(engine.decide('/metadata/instance/compute/vmSize', 0)).toBeDefined();
    expect(engine.decide('/METADATA/Instance/compute', 0)).toBeDefined();
    expect(engine.decide('/metadata/instances', 0)).toBeUndefined();
    expect(engine.decide('/metadata/versions', 0)).toBeUndefined();
  });

  it('gives the request to the first active fault', () => {
    const engine = new FaultEngine(parseFaultPlan({ faults: [{ statuses: [429] }, { status: 500 }] }));
    expect(engine.decide('/metadata/instance', 0)?.action).toEqual({ kind: 'status', status: 429 });
    expect(engine.decide('/metadata/instance', 0)?.action).toEqual({ kind: 'status', status: 500 });
    expect(engine.decide('/metadata/instance', 0)?.index).toBe(1);
  });
});

describe('status faults', () => {
  it('a status sequence is used up one per request, then IMDS answers normally', async () => {
    const e = await emulator({ faults: { faults: [{ path: '/metadata/instance', statuses: [429, 429, 500] }] } });
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await status(e));
    expect(seen).toEqual([429, 429, 500, 200, 200]);
  });

  it('200 in a sequence means a normal answer', async () => {
    const e = await emulator({ faults: { faults: [{ statuses: [500, 200, 503] }] } });
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await status(e));
    expect(seen).toEqual([500, 200, 503, 200]);
  });

  it('status faults answer with a JSON error body, and Retry-After when asked', async () => {
    const e = await emulator({ faults: { faults: [{ statuses: [429, 503], retryAfter: 7 }, { status: 410, times: 1 }] } });
    const throttled = await imds(e.url, INSTANCE);
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('7');
    expect(JSON.parse(throttled.body)).toEqual({ error: 'Too many requests' });
    const unavailable = await imds(e.url, INSTANCE);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers['retry-after']).toBe('7');
    const gone = await imds(e.url, INSTANCE);
    expect(gone.status).toBe(410);
    expect(gone.headers['retry-after']).toBeUndefined();
    expect(JSON.parse(gone.body).error).toMatch(/70 seconds/);
  });

  it('a status for a duration lasts that long on the clock, from the first request it meets', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, faults: { faults: [{ status: 410, forSeconds: 60 }] } });
    clock.advance(3_600_000); // the duration has not started: no request yet
    expect(await status(e)).toBe(410);
    clock.advance(59_999);
    expect(await status(e)).toBe(410);
    clock.advance(1);
    expect(await status(e)).toBe(200);
    clock.advance(-1_000_000);
    expect(await status(e)).toBe(200);
  });

  it('times limits a status to the first N requests', async () => {
    const e = await emulator({ faults: { faults: [{ status: 500, times: 2 }] } });
    expect([await status(e), await status(e), await status(e)]).toEqual([500, 500, 200]);
  });

  it('only the targeted paths see the fault', async () => {
    const e = await emulator({ faults: { faults: [{ path: '/metadata/instance/compute', status: 500 }] } });
    expect(await status(e, `/metadata/instance/compute/vmSize?api-version=${V}&format=text`)).toBe(500);
    expect(await status(e, `/metadata/instance/compute?api-version=${V}`)).toBe(500);
    expect(await status(e, `/metadata/instance/network?api-version=${V}`)).toBe(200);
    expect(await status(e, INSTANCE)).toBe(200);
    expect(await status(e, '/metadata/versions')).toBe(200);
  });

  it('faults apply before the header checks: a 500 is a 500 whatever the request', async () => {
    const e = await emulator({ faults: { faults: [{ status: 500 }] } });
    expect((await rawRequest(e.url + INSTANCE)).status).toBe(500);
  });
});

describe('supported versions and rate limit in the plan', () => {
  it('supportedVersions makes a newer version unknown, to force a fallback', async () => {
    const e = await emulator({ faults: { supportedVersions: ['2019-06-04', '2020-09-01'] } });
    const rejected = await imds(e.url, '/metadata/instance?api-version=2025-04-07');
    expect(rejected.status).toBe(400);
    expect(JSON.parse(rejected.body)['newest-versions']).toEqual(['2020-09-01', '2019-06-04']);
    expect(JSON.parse((await imds(e.url, '/metadata/versions')).body).apiVersions).toEqual(['2019-06-04', '2020-09-01']);
    expect(await status(e, '/metadata/instance?api-version=2020-09-01')).toBe(200);
    e.setFaults({});
    expect(await status(e, '/metadata/instance?api-version=2025-04-07')).toBe(200);
  });

  it('the plan overrides the supportedVersions option while it is in force', async () => {
    const e = await emulator({ supportedVersions: ['2021-02-01'], faults: { supportedVersions: ['2020-09-01'] } });
    expect(await status(e, '/metadata/instance?api-version=2021-02-01')).toBe(400);
    e.setFaults({});
    expect(await status(e, '/metadata/instance?api-version=2021-02-01')).toBe(200);
    expect(await status(e, '/metadata/instance?api-version=2020-09-01')).toBe(400);
  });

  it('rateLimitPerSecond overrides the option', async () => {
    const e = await emulator({ rateLimitPerSecond: 0, faults: { rateLimitPerSecond: 2 } });
    expect([await status(e), await status(e), await status(e)]).toEqual([200, 200, 429]);
  });
});

describe('latency', () => {
  it('delays the answer by latencyMs on the clock', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, faults: { faults: [{ latencyMs: 250 }] } });
    let answered = false;
    const pending = imds(e.url, INSTANCE).then((r) => {
      answered = true;
      return r;
    });
    await clock.waitForSleepers(1);
    expect(clock.sleeps).toEqual([250]);
    expect(answered).toBe(false);
    clock.advance(249);
    expect(clock.pendingSleeps).toBe(1);
    clock.advance(1);
    expect((await pending).status).toBe(200);
  });

  it('combines with a status', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, faults: { faults: [{ status: 503, latencyMs: 1000 }] } });
    const pending = imds(e.url, INSTANCE);
    await clock.waitForSleepers(1);
    clock.advance(1000);
    expect((await pending).status).toBe(503);
  });
});

describe('connection faults', () => {
  it('hang: the request is accepted and never answered', async () => {
    const e = await emulator({ faults: { faults: [{ hang: true, times: 1 }] } });
    const failure = await requestFailure(imds(e.url, INSTANCE, { timeoutMs: 300 }));
    expect(failure.code).toBe('ETIMEDOUT');
    expect(failure.partial).toBeUndefined(); // not even a status line
    expect(e.requests().total).toBe(1);
    expect(await status(e)).toBe(200); // used up
  });

  it('hang: close() still returns, dropping the hung connection', async () => {
    const e = await startEmulator({ rateLimitPerSecond: 0, faults: { faults: [{ hang: true }] } });
    const hung = requestFailure(imds(e.url, INSTANCE, { timeoutMs: 30_000 }));
    while (e.requests().total === 0) await new Promise((r) => setTimeout(r, 5));
    await e.close();
    expect((await hung).code).toMatch(/ECONNRESET|EPREMATURE/);
  });

  it('slowDrip: headers arrive, the body does not finish before the client gives up', async () => {
    const e = await emulator({ clock: systemClock, faults: { faults: [{ slowDrip: { bytes: 8, intervalMs: 60_000 } }] } });
    const failure = await requestFailure(imds(e.url, INSTANCE, { timeoutMs: 300 }));
    expect(failure.code).toBe('ETIMEDOUT');
    expect(failure.partial?.status).toBe(200);
    expect(Number(failure.partial?.headers['content-length'])).toBeGreaterThan(1000);
    expect(failure.partial?.bytes.length).toBeLessThan(1000);
    expect(failure.partial?.bytes.toString()).toBe('{"comput');
  });

  it('slowDrip: the body comes N bytes per interval of the clock, and is whole in the end', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, faults: { faults: [{ path: '/metadata/instance/compute', slowDrip: { bytes: 4, intervalMs: 100 } }] } });
    const pending = imds(e.url, `/metadata/instance/compute/location?api-version=${V}&format=text`);
    await clock.waitForSleepers(1);
    clock.advance(100);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toBe('westus');
    expect(clock.sleeps).toEqual([100]); // 6 bytes: a first chunk of 4, one interval, 2 more
  });

  it('truncate: Content-Length promises more than arrives before the connection closes', async () => {
    const e = await emulator({ faults: { faults: [{ truncate: { afterBytes: 10 } }] } });
    const failure = await requestFailure(imds(e.url, INSTANCE));
    expect(failure.code).toMatch(/EPREMATURE|ECONNRESET/);
    expect(failure.partial?.status).toBe(200);
    expect(Number(failure.partial?.headers['content-length'])).toBeGreaterThan(10);
    expect(failure.partial?.bytes.toString()).toBe('{"compute"');
  });

  it('truncate: fetch fails to read the body too', async () => {
    const e = await emulator({ faults: { faults: [{ truncate: true }] } });
    const res = await fetch(e.url + INSTANCE, { headers: { Metadata: 'true' } });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('malformed: 200 with a body that is not JSON', async () => {
    const e = await emulator({ faults: { faults: [{ malformed: true }] } });
    const res = await imds(e.url, INSTANCE);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.startsWith('{"compute":')).toBe(true);
    expect(() => JSON.parse(res.body)).toThrow(SyntaxError);
  });

  it.each([
    [{ mislabel: { contentType: 'text/html' } }, 200, 'text/html'],
    [{ mislabel: { status: 503 } }, 503, 'application/json; charset=utf-8'],
    [{ mislabel: { status: 404, contentType: 'text/plain' } }, 404, 'text/plain'],
  ] as const)('mislabel %j: the instance document with status %i and type %s', async (fault, status, type) => {
    const e = await emulator({ faults: { faults: [fault] } });
    const res = await imds(e.url, INSTANCE);
    expect([res.status, res.headers['content-type']]).toEqual([status, type]);
    expect((JSON.parse(res.body) as { compute: { vmSize: string } }).compute.vmSize).toBeTypeOf('string');
  });

  it('mislabel needs a status or a content type', () => {
    expect(() => parseFaultPlan({ faults: [{ mislabel: {} }] })).toThrow(/status, contentType or both/);
  });

  it.each([
    [{ html: 500 }, 500],
    [{ html: 200 }, 200],
    [{ html: true }, 500],
  ] as const)('html %j: an HTML page with status %i', async (fault, expected) => {
    const e = await emulator({ faults: { faults: [fault] } });
    const res = await imds(e.url, INSTANCE);
    expect(res.status).toBe(expected);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toMatch(/^<!DOCTYPE html>/);
    expect(() => JSON.parse(res.body)).toThrow(SyntaxError);
  });

  it('hugeBody: streams N MiB of valid JSON', async () => {
    const e = await emulator({ faults: { faults: [{ hugeBody: { mebibytes: 3 } }] } });
    const res = await imds(e.url, INSTANCE, { discardBody: true });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(3 * 1024 * 1024));
    expect(res.bytes.length).toBe(3 * 1024 * 1024);
  });

  it('hugeBody: the body is valid JSON, and a client with a size limit can walk away', async () => {
    const e = await emulator({ faults: { faults: [{ hugeBody: { mebibytes: 1 }, times: 1 }, { hugeBody: { mebibytes: 512 }, times: 1 }] } });
    const whole = await imds(e.url, INSTANCE);
    expect(Object.keys(JSON.parse(whole.body))).toEqual(['compute']);
    const failure = await requestFailure(imds(e.url, INSTANCE, { maxBytes: 256 * 1024, discardBody: true }));
    expect(failure.code).toBe('ETOOBIG');
    expect(Number(failure.partial?.headers['content-length'])).toBe(512 * 1024 * 1024);
    expect(await status(e)).toBe(200);
  });

  it('reset: the connection is reset', async () => {
    const e = await emulator({ faults: { faults: [{ reset: true, times: 1 }] } });
    const failure = await requestFailure(imds(e.url, INSTANCE));
    expect(failure.code).toBe('ECONNRESET');
    expect(failure.partial).toBeUndefined();
    expect(await status(e)).toBe(200);
  });

  it('reset: fetch fails with ECONNRESET (a TCP reset, not a clean close)', async () => {
    const e = await emulator({ faults: { faults: [{ reset: true }] } });
    const failure = await requestFailure(fetch(e.url + INSTANCE, { headers: { Metadata: 'true' } }));
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure.cause as { code?: string }).code).toBe('ECONNRESET');
  });
});

describe('fault plans from a file and from the control endpoint', () => {
  it('a faults file is re-read when it changes; a broken edit keeps the plan in force', async () => {
    const path = join(dir, 'live-faults.yaml');
    writeFileSync(path, 'faults:\n  - status: 503\n');
    const e = await emulator({ faults: path });
    expect(await status(e)).toBe(503);
    writeFileSync(path, 'faults:\n  - path: /metadata/instance\n    statuses: [429]\n');
    expect([await status(e), await status(e)]).toEqual([429, 200]);
    writeFileSync(path, 'faults:\n  - status: nope\n');
    expect(await status(e)).toBe(200);
    writeFileSync(path, '{"faults": [{"status": 500}]}');
    expect(await status(e)).toBe(500);
    writeFileSync(path, '');
    expect(await status(e)).toBe(200);
  });

  it('setFaults replaces the plan and its counts, and stops following the file', async () => {
    const path = join(dir, 'replaced-faults.yaml');
    writeFileSync(path, 'faults:\n  - status: 503\n');
    const e = await emulator({ faults: path });
    e.setFaults({ faults: [{ statuses: [500] }] });
    writeFileSync(path, 'faults:\n  - status: 418\n');
    expect([await status(e), await status(e)]).toEqual([500, 200]);
    e.setFaults({ faults: [{ statuses: [500] }] });
    expect(await status(e)).toBe(500);
  });

  it('POST /_emulator/faults sets the plan without a Metadata header; GET shows it; DELETE clears it', async () => {
    const e = await emulator();
    const plan: FaultPlan = { faults: [{ path: '/metadata/instance', statuses: [500, 500] }] };
    const posted = await rawRequest(`${e.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify(plan) });
    expect(posted.status).toBe(204);
    expect(JSON.parse((await rawRequest(`${e.url}/_emulator/faults`)).body)).toEqual({ faults: [{ path: '/metadata/instance', statuses: [500, 500] }] });
    expect(await status(e)).toBe(500);
    expect((await rawRequest(`${e.url}/_emulator/faults`, { method: 'DELETE' })).status).toBe(204);
    expect(await status(e)).toBe(200);
  });

  it.each<[string, string, RegExp, string | undefined]>([
    ['an invalid plan', '{"faults":[{"status":"x"}]}', /faults\[0\]\.status/, 'faults[0].status'],
    ['a misspelt field', '{"faults":[{"hnag":true}]}', /faults\[0\]\.hnag: unknown field/, 'faults[0].hnag'],
    ['a body that is not JSON', '{faults', /not JSON/, undefined],
  ])('POST /_emulator/faults with %s → 400', async (_name, body, message, field) => {
    const e = await emulator({ faults: { faults: [{ status: 503 }] } });
    const res = await rawRequest(`${e.url}/_emulator/faults`, { method: 'POST', body });
    expect(res.status).toBe(400);
    const answer = JSON.parse(res.body);
    expect(answer.error).toMatch(message);
    expect(answer.field).toBe(field);
    expect(await status(e)).toBe(503);
  });

  it('PUT /_emulator/fixture replaces the document, or picks a built-in one', async () => {
    const e = await emulator();
    const put = await rawRequest(`${e.url}/_emulator/fixture`, { method: 'PUT', body: JSON.stringify({ compute: { zone: '3' } }) });
    expect(put.status).toBe(204);
    expect((await imds(e.url, `/metadata/instance/compute/zone?api-version=${V}&format=text`)).body).toBe('3');
    expect(JSON.parse((await rawRequest(`${e.url}/_emulator/fixture`)).body)).toEqual({ compute: { zone: '3' } });
    expect((await rawRequest(`${e.url}/_emulator/fixture?name=spot`, { method: 'PUT' })).status).toBe(204);
    expect((await imds(e.url, `/metadata/instance/compute/priority?api-version=${V}&format=text`)).body).toBe('Spot');
  });

  it.each<[string, string, string]>([
    ['an unknown built-in name', '?name=nope', ''],
    ['a body that is not an object', '', '"/etc/hostname"'],
    ['a body that is not JSON', '', 'compute:'],
    ['a bad scheduledEvents section', '', '{"scheduledEvents":{"Events":[{"EventId":5}]}}'],
  ])('PUT /_emulator/fixture with %s → 400', async (_name, query, body) => {
    const e = await emulator();
    const res = await rawRequest(`${e.url}/_emulator/fixture${query}`, { method: 'PUT', body });
    expect(res.status).toBe(400);
    expect(await status(e, `/metadata/instance/compute/vmSize?api-version=${V}&format=text`)).toBe(200);
  });

  it.each<[string, string, number]>([
    ['GET', '/_emulator/nothing', 404],
    ['PATCH', '/_emulator/faults', 405],
    ['POST', '/_emulator/requests', 405],
    ['DELETE', '/_emulator/fixture', 405],
  ])('%s %s → %i', async (method, path, expected) => {
    const e = await emulator();
    expect((await rawRequest(e.url + path, { method })).status).toBe(expected);
  });

  it('control endpoints are never faulted', async () => {
    const e = await emulator({ faults: { faults: [{ path: '/', hang: true }] } });
    expect((await rawRequest(`${e.url}/_emulator/requests`, { timeoutMs: 5000 })).status).toBe(200);
  });
});
