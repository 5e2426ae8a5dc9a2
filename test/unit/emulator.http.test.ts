import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { parseInstanceDocument } from '../../src/imds/document.ts';
import { startEmulator, type Emulator } from '../../testbed/imds-emulator/server.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { KNOWN_API_VERSIONS } from '../../src/imds/versions.ts';
import { emulatorPerTest, imds, ManualClock, rawRequest } from '../helpers/emulator.ts';

const V = '2021-02-01';
const API_VERSION_ERROR =
  '{"error":"Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds","newest-versions":["2025-04-07","2024-07-17","2024-03-15"]}';

/** One emulator for the read-only tables: time frozen, throttle off. */
let shared: Emulator;
beforeAll(async () => {
  shared = await startEmulator({ clock: new ManualClock(), rateLimitPerSecond: 0 });
});
afterAll(() => shared.close());

const emulator = emulatorPerTest();

describe('listening', () => {
  it('binds 127.0.0.1 on a free port by default', async () => {
    expect(shared.url).toBe(`http://127.0.0.1:${shared.port}`);
    expect(shared.port).toBeGreaterThan(0);
  });

  it('serves the default fixture, which the agent parses', async () => {
    const res = await imds(shared.url, `/metadata/instance?api-version=${V}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const doc = parseInstanceDocument(JSON.parse(res.body));
    expect(doc.compute).toMatchObject({ vmSize: 'Standard_A3', zone: '1', platformFaultDomain: 0 });
  });

  it('stops answering once closed', async () => {
    const e = await startEmulator({ rateLimitPerSecond: 0 });
    await e.close();
    await expect(imds(e.url, `/metadata/instance?api-version=${V}`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('header rules', () => {
  it.each<[string, Record<string, string>, number, string | RegExp]>([
    ['no Metadata header', {}, 400, '{"error":"Bad request. Required metadata header not specified"}'],
    ['Metadata: false', { Metadata: 'false' }, 400, '{"error":"Bad request. Required metadata header not specified"}'],
    ['Metadata: empty', { Metadata: '' }, 400, '{"error":"Bad request. Required metadata header not specified"}'],
    ['Metadata: true', { Metadata: 'true' }, 200, /^\{"compute":/],
    ['Metadata: True', { Metadata: 'True' }, 200, /^\{"compute":/],
    ['X-Forwarded-For with Metadata', { Metadata: 'true', 'X-Forwarded-For': '10.0.0.1' }, 400, /X-Forwarded-For/],
    ['empty X-Forwarded-For', { Metadata: 'true', 'X-Forwarded-For': '' }, 400, /X-Forwarded-For/],
  ])('%s → %i', async (_name, headers, status, body) => {
    const res = await rawRequest(`${shared.url}/metadata/instance?api-version=${V}`, { headers });
    expect(res.status).toBe(status);
    if (typeof body === 'string') expect(res.body).toBe(body);
    else expect(res.body).toMatch(body);
  });

  it.each([
    ['/metadata/versions'],
    [`/metadata/scheduledevents?api-version=2020-07-01`],
    [`/metadata/attested/document?api-version=${V}`],
  ])('%s needs the Metadata header too', async (path) => {
    const res = await rawRequest(shared.url + path);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ error: 'Bad request. Required metadata header not specified' });
  });
});

describe('methods', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'])('%s /metadata/instance → 405', async (method) => {
    const res = await imds(shared.url, `/metadata/instance?api-version=${V}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET');
  });

  it.each<[string, string, string]>([
    ['POST', '/metadata/instance/compute/vmSize?format=text', 'GET'],
    ['POST', '/metadata/versions', 'GET'],
    ['PUT', '/metadata/scheduledevents?api-version=2020-07-01', 'GET, POST'],
    ['POST', `/metadata/attested/document`, 'GET'],
  ])('%s %s → 405', async (method, path, allow) => {
    const res = await imds(shared.url, path, { method });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
  });
});

describe('api-version', () => {
  it.each<[string, string]>([
    ['missing', '/metadata/instance'],
    ['empty', '/metadata/instance?api-version='],
    ['unknown', '/metadata/instance?api-version=2099-01-01'],
    ['not a date', '/metadata/instance?api-version=latest'],
    ['wrong case of the name', `/metadata/instance?API-VERSION=${V}`],
    ['missing on a leaf', '/metadata/instance/compute/vmSize?format=text'],
  ])('%s → 400 with the newest versions', async (_name, path) => {
    const res = await imds(shared.url, path);
    expect(res.status).toBe(400);
    expect(res.body).toBe(API_VERSION_ERROR);
  });

  it.each([...KNOWN_API_VERSIONS])('%s is accepted', async (version) => {
    const res = await imds(shared.url, `/metadata/instance/compute/vmSize?api-version=${version}&format=text`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('Standard_A3');
  });

  it('GET /metadata/versions needs no api-version, and lists every known version', async () => {
    const res = await imds(shared.url, '/metadata/versions');
    expect(res.status).toBe(200);
    const { apiVersions } = JSON.parse(res.body) as { apiVersions: string[] };
    expect([...apiVersions].sort()).toEqual([...KNOWN_API_VERSIONS].sort());
  });

  it('a VM with fewer versions rejects the others, and says which it has', async () => {
    const e = await emulator({ supportedVersions: ['2019-06-04', '2020-09-01', '2021-02-01', '2018-10-01'] });
    const rejected = await imds(e.url, '/metadata/instance?api-version=2025-04-07');
    expect(rejected.status).toBe(400);
    expect(JSON.parse(rejected.body)['newest-versions']).toEqual(['2021-02-01', '2020-09-01', '2019-06-04']);
    expect((await imds(e.url, '/metadata/instance?api-version=2020-09-01')).status).toBe(200);
    expect(JSON.parse((await imds(e.url, '/metadata/versions')).body)).toEqual({ apiVersions: ['2018-10-01', '2019-06-04', '2020-09-01', '2021-02-01'] });
  });

  it('rejects a supportedVersions option that is not a list of versions', async () => {
    await expect(startEmulator({ supportedVersions: ['soon'] })).rejects.toThrow(/supportedVersions\[0\]/);
  });

  it.each<[string, string, boolean]>([
    ['tagsList', '2019-06-01', false],
    ['tagsList', '2019-06-04', true],
    ['physicalZone', '2023-07-01', false],
    ['physicalZone', '2023-11-15', true],
    ['zone', '2017-10-01', false],
  ])('compute.%s at %s is there: %s', async (field, version, present) => {
    const whole = JSON.parse((await imds(shared.url, `/metadata/instance?api-version=${version}`)).body);
    expect(field in whole.compute).toBe(present);
    const leaf = await imds(shared.url, `/metadata/instance/compute/${field}?api-version=${version}&format=text`);
    expect(leaf.status).toBe(present ? 200 : 404);
  });
});

describe('query parameters', () => {
  it.each([
    [`/metadata/instance?api-version=${V}&api-version=${V}`],
    [`/metadata/instance?api-version=${V}&api-version=2020-09-01`],
    [`/metadata/instance/compute/vmSize?api-version=${V}&format=text&format=text`],
    [`/metadata/instance?api-version=${V}&foo=1&foo=2`],
    ['/metadata/versions?x=1&x=1'],
  ])('a duplicate in %s → 400', async (path) => {
    const res = await imds(shared.url, path);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(/more than once/);
  });

  it('an unknown parameter is ignored', async () => {
    expect((await imds(shared.url, `/metadata/instance?api-version=${V}&foo=bar`)).status).toBe(200);
  });

  it('an unknown format → 400', async () => {
    const res = await imds(shared.url, `/metadata/instance?api-version=${V}&format=xml`);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(/format/);
  });
});

describe('route filtering', () => {
  const leafText: [string, string][] = [
    ['/compute/vmSize', 'Standard_A3'],
    ['/compute/platformFaultDomain', '0'],
    ['/compute/platformUpdateDomain', '0'],
    ['/compute/zone', '1'],
    ['/compute/azEnvironment', 'AZUREPUBLICCLOUD'],
    ['/compute/tags', 'baz:bash;foo:bar'],
    ['/compute/tagsList/1/value', 'bar'],
    ['/compute/publicKeys/0/keyData', 'ssh-rsa 0'],
    ['/compute/osProfile/adminUsername', 'admin'],
    ['/compute/storageProfile/dataDisks/0/managedDisk/storageAccountType', 'Standard_LRS'],
    ['/network/interface/0/ipv4/ipAddress/0/privateIpAddress', '10.144.133.132'],
    ['/network/interface/0/ipv4/ipAddress/0/publicIpAddress', ''],
    ['/network/interface/0/ipv4/subnet/0/prefix', '26'],
    ['/network/interface/0/macAddress', '0011AAFFBB22'],
    ['/compute/VMSIZE', 'Standard_A3'],
    ['//compute//vmSize/', 'Standard_A3'],
  ];
  it.each(leafText)('%s?format=text → the bare value', async (path, value) => {
    const res = await imds(shared.url, `/metadata/instance${path}?api-version=${V}&format=text`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe(value);
  });

  it.each(leafText.map(([p]) => p).flatMap((p) => [[p, ''], [p, '&format=json'], [p, '&format=JSON']]))('%s as JSON (%s) → 400', async (path, format) => {
    const res = await imds(shared.url, `/metadata/instance${path}?api-version=${V}${format}`);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(/leaf/);
  });

  it.each<[string, (doc: { compute: Record<string, unknown>; network: Record<string, unknown> }) => unknown]>([
    ['', (d) => d],
    ['/compute', (d) => d.compute],
    ['/compute/', (d) => d.compute],
    ['/network', (d) => d.network],
    ['/network/interface', (d) => d.network.interface],
    ['/network/interface/0/ipv4/ipAddress', (d) => (d.network.interface as { ipv4: { ipAddress: unknown } }[])[0]!.ipv4.ipAddress],
    ['/network/interface/0/ipv6/ipAddress', () => []],
    ['/compute/tagsList', (d) => d.compute.tagsList],
    ['/compute/tagsList/0', (d) => (d.compute.tagsList as unknown[])[0]],
    ['/compute/osProfile', (d) => d.compute.osProfile],
    ['/compute/securityProfile', (d) => d.compute.securityProfile],
  ])('%s as JSON → the subtree', async (path, pick) => {
    const fixture = builtInFixture('default') as { compute: Record<string, unknown>; network: Record<string, unknown> };
    for (const format of ['', '&format=json']) {
      const res = await imds(shared.url, `/metadata/instance${path}?api-version=2025-04-07${format}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual(pick(fixture));
    }
  });

  it.each<[string, string]>([
    ['', 'compute/\nnetwork/'],
    ['/network', 'interface/'],
    ['/network/interface', '0/'],
    ['/network/interface/0/ipv4', 'ipAddress/\nsubnet/'],
    ['/network/interface/0', 'ipv4/\nipv6/\nmacAddress'],
    ['/network/interface/0/ipv6/ipAddress', ''],
    ['/compute/osProfile', 'adminUsername\ncomputerName\ndisablePasswordAuthentication'],
    ['/compute/plan', 'name\nproduct\npublisher'],
    ['/compute/tagsList', '0/\n1/'],
    ['/compute/tagsList/0', 'name\nvalue'],
  ])('%s?format=text → the child keys', async (path, listing) => {
    const res = await imds(shared.url, `/metadata/instance${path}?api-version=${V}&format=text`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe(listing);
  });

  it('lists every compute key in text at the top of compute', async () => {
    const res = await imds(shared.url, `/metadata/instance/compute?api-version=${V}&format=text`);
    const keys = res.body.split('\n');
    expect(keys).toContain('vmSize');
    expect(keys).toContain('osProfile/');
    expect(keys).toContain('tagsList/');
    expect(keys).toContain('publicKeys/');
  });

  it.each([
    ['/compute/nope'],
    ['/nope'],
    ['/network/interface/1'],
    ['/network/interface/-1'],
    ['/network/interface/01'],
    ['/network/interface/x'],
    ['/network/interface/0/ipv6/ipAddress/0'],
    ['/compute/vmSize/extra'],
    ['/compute/tagsList/name'],
  ])('%s → 404', async (path) => {
    for (const format of ['', '&format=text']) {
      const res = await imds(shared.url, `/metadata/instance${path}?api-version=${V}${format}`);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body)).toEqual({ error: 'Not found' });
    }
  });

  it.each([['/metadata'], ['/metadata/identity/oauth2/token?api-version=2018-02-01'], ['/'], ['/latest/meta-data/'], ['/metadata/instances?api-version=2021-02-01']])(
    'a path IMDS does not serve: %s → 404',
    async (path) => {
      expect((await imds(shared.url, path)).status).toBe(404);
    },
  );

  it('does not serve the scheduledEvents section of a fixture as part of the instance', async () => {
    const e = await emulator({ fixture: 'spot' });
    const doc = JSON.parse((await imds(e.url, `/metadata/instance?api-version=${V}`)).body);
    expect(Object.keys(doc).sort()).toEqual(['compute', 'network']);
    expect((await imds(e.url, `/metadata/instance/scheduledEvents?api-version=${V}`)).status).toBe(404);
  });
});

describe('throttling', () => {
  it('answers 5 requests in a second and throttles the 6th', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, rateLimitPerSecond: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await imds(e.url, `/metadata/instance?api-version=${V}`)).status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    expect(statuses.at(-1)).toBe(429);
  });

  it('throttles exactly one of 6 concurrent requests', async () => {
    const e = await emulator({ clock: new ManualClock(), rateLimitPerSecond: 5 });
    const statuses = await Promise.all(Array.from({ length: 6 }, () => imds(e.url, `/metadata/instance?api-version=${V}`).then((r) => r.status)));
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
  });

  it('counts every IMDS path against the same budget, and the 429 body is JSON', async () => {
    const e = await emulator({ clock: new ManualClock(), rateLimitPerSecond: 5 });
    for (const path of ['/metadata/versions', `/metadata/instance?api-version=${V}`, '/metadata/scheduledevents?api-version=2020-07-01', '/metadata/versions', '/nope']) {
      expect((await imds(e.url, path)).status).not.toBe(429);
    }
    const throttled = await imds(e.url, '/metadata/versions');
    expect(throttled.status).toBe(429);
    expect(JSON.parse(throttled.body)).toEqual({ error: 'Too many requests' });
  });

  it('the window slides with the clock', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, rateLimitPerSecond: 5 });
    const get = async () => (await imds(e.url, '/metadata/versions')).status;
    for (let i = 0; i < 3; i++) expect(await get()).toBe(200);
    clock.advance(500);
    for (let i = 0; i < 2; i++) expect(await get()).toBe(200);
    expect(await get()).toBe(429);
    clock.advance(499); // 999 ms after the first three
    expect(await get()).toBe(429);
    clock.advance(1); // the first three leave the window
    for (let i = 0; i < 3; i++) expect(await get()).toBe(200);
    expect(await get()).toBe(429);
  });

  it('does not count throttled requests against the budget', async () => {
    const clock = new ManualClock();
    const e = await emulator({ clock, rateLimitPerSecond: 1 });
    expect((await imds(e.url, '/metadata/versions')).status).toBe(200);
    clock.advance(600);
    expect((await imds(e.url, '/metadata/versions')).status).toBe(429);
    clock.advance(400);
    expect((await imds(e.url, '/metadata/versions')).status).toBe(200);
  });

  it('0 disables the throttle', async () => {
    const e = await emulator({ clock: new ManualClock(), rateLimitPerSecond: 0 });
    for (let i = 0; i < 12; i++) expect((await imds(e.url, '/metadata/versions')).status).toBe(200);
  });

  it('defaults to 5 per second', async () => {
    const e = await emulator({ clock: new ManualClock(), rateLimitPerSecond: undefined });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await imds(e.url, '/metadata/versions')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('control endpoints are never throttled', async () => {
    const e = await emulator({ clock: new ManualClock(), rateLimitPerSecond: 1 });
    for (let i = 0; i < 5; i++) expect((await rawRequest(`${e.url}/_emulator/requests`)).status).toBe(200);
    expect((await imds(e.url, '/metadata/versions')).status).toBe(200);
  });
});

describe('fixtures', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'emulator-http-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['regional', 'spot', 'dedicated-host', 'tag-edge-cases', 'scale-set'])('serves the built-in fixture %s', async (name) => {
    const e = await emulator({ fixture: name });
    const doc = JSON.parse((await imds(e.url, `/metadata/instance?api-version=2025-04-07`)).body);
    const { scheduledEvents: _events, ...expected } = builtInFixture(name as 'spot');
    expect(doc).toEqual(expected);
  });

  it('serves a document given as an object', async () => {
    const e = await emulator({ fixture: { compute: { vmSize: 'Standard_Object' } } });
    expect((await imds(e.url, `/metadata/instance/compute/vmSize?api-version=${V}&format=text`)).body).toBe('Standard_Object');
  });

  it('re-reads a fixture file when it changes: the next request sees the new tag', async () => {
    const path = join(dir, 'live.json');
    const write = (value: string) => writeFileSync(path, JSON.stringify({ compute: { tagsList: [{ name: 'team', value }] } }));
    write('blue');
    const e = await emulator({ fixture: path });
    const tag = async () => (await imds(e.url, `/metadata/instance/compute/tagsList/0/value?api-version=${V}&format=text`)).body;
    expect(await tag()).toBe('blue');
    write('green');
    expect(await tag()).toBe('green');
    write('red-and-longer');
    expect(await tag()).toBe('red-and-longer');
  });

  it('re-reads a YAML fixture, and keeps serving the last good document when an edit is broken', async () => {
    const path = join(dir, 'live.yaml');
    writeFileSync(path, 'compute:\n  zone: "1"\n');
    const e = await emulator({ fixture: path });
    const zone = async () => (await imds(e.url, `/metadata/instance/compute/zone?api-version=${V}&format=text`)).body;
    expect(await zone()).toBe('1');
    writeFileSync(path, 'compute:\n  zone: "2"\n');
    expect(await zone()).toBe('2');
    writeFileSync(path, 'compute: [unclosed\n');
    expect(await zone()).toBe('2');
    writeFileSync(path, 'compute:\n  zone: "3"\n');
    expect(await zone()).toBe('3');
  });

  it('setFixture replaces the document, and stops following the file', async () => {
    const path = join(dir, 'replaced.json');
    writeFileSync(path, JSON.stringify({ compute: { vmSize: 'from-file' } }));
    const e = await emulator({ fixture: path });
    e.setFixture({ compute: { vmSize: 'from-call' } });
    writeFileSync(path, JSON.stringify({ compute: { vmSize: 'from-file-again' } }));
    expect((await imds(e.url, `/metadata/instance/compute/vmSize?api-version=${V}&format=text`)).body).toBe('from-call');
    e.setFixture('scale-set');
    expect((await imds(e.url, `/metadata/instance/compute/vmScaleSetName?api-version=${V}&format=text`)).body).toBe('aks-nodepool1-12345678-vmss');
  });

  it('rejects a fixture that does not exist', async () => {
    await expect(startEmulator({ fixture: join(dir, 'missing.json') })).rejects.toThrow(/neither a built-in fixture/);
  });
});

describe('request counters', () => {
  it('count IMDS requests by path, whatever their answer, and reset', async () => {
    const e = await emulator({ clock: new ManualClock(), rateLimitPerSecond: 2 });
    await imds(e.url, `/metadata/instance?api-version=${V}`);
    await imds(e.url, `/metadata/instance?api-version=${V}&format=json`);
    await imds(e.url, `/metadata/instance/compute/zone?api-version=${V}&format=text`); // 429
    await rawRequest(`${e.url}/metadata/versions`); // 429 too
    await rawRequest(`${e.url}/_emulator/requests`); // not counted
    expect(e.requests()).toEqual({ total: 4, byPath: { '/metadata/instance': 2, '/metadata/instance/compute/zone': 1, '/metadata/versions': 1 } });
    expect(JSON.parse((await rawRequest(`${e.url}/_emulator/requests`)).body)).toEqual(e.requests());
    e.resetCounters();
    expect(e.requests()).toEqual({ total: 0, byPath: {} });
    await imds(e.url, '/metadata/versions');
    expect((await rawRequest(`${e.url}/_emulator/requests`, { method: 'DELETE' })).status).toBe(204);
    expect(e.requests()).toEqual({ total: 0, byPath: {} });
  });

  it('requests() returns a snapshot', async () => {
    const e = await emulator();
    const before = e.requests();
    await imds(e.url, '/metadata/versions');
    expect(before.total).toBe(0);
    expect(e.requests().total).toBe(1);
  });
});
