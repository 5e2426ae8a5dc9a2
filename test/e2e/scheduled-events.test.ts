import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { startEmulator } from '../../testbed/imds-emulator/server.ts';
import { startSandbox } from '../../testbed/kube-sandbox/server.ts';
import { startAgentProcess, type AgentProcess } from '../helpers/agentProcess.ts';
import { waitFor } from '../helpers/wait.ts';
import type { NodeCondition, Taint } from '../../src/kube/types.ts';

/**
 * Scheduled events end to end: the agent as a process, the emulator publishing, starting and
 * cancelling events as the platform does, the sandbox as the API server. The node registers with
 * the start-up taint and a taint of someone else's; the maintenance taint is on.
 */

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
type Sandbox = Awaited<ReturnType<typeof startSandbox>>;
interface Event {
  reason?: string;
  message?: string;
  type?: string;
  involvedObject?: { name?: string };
}

const NODE = 'aks-nodepool1-0';
const VM = 'examplevmname';
const CONDITION = 'imds-labeler.io/MaintenanceScheduled';
const ANNOTATION = 'imds-labeler.io/scheduled-event';
const STARTUP = { key: 'imds-labeler.io/unlabelled', effect: 'NoSchedule' };
const MAINTENANCE = { key: 'imds-labeler.io/maintenance', effect: 'NoSchedule' };
const FOREIGN = { key: 'CriticalAddonsOnly', value: 'true', effect: 'NoSchedule' };
const EVENTS_PATH = '/metadata/scheduledevents';

const reboot = (id: string, resources = [VM]) => ({
  EventId: id,
  EventType: 'Reboot',
  ResourceType: 'VirtualMachine',
  Resources: resources,
  EventStatus: 'Scheduled',
  NotBefore: new Date(Date.now() + 15 * 60_000).toUTCString(),
  Description: 'Host maintenance',
  EventSource: 'Platform',
  DurationInSeconds: 15,
});

let emulator: Emulator;
let sandbox: Sandbox;
let agent: AgentProcess;

const node = () => sandbox.getNode(NODE)! as unknown as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: { taints?: Taint[] }; status?: { conditions?: NodeCondition[] } };
const taints = () => node().spec?.taints ?? [];
const condition = () => node().status?.conditions?.find((c) => c.type === CONDITION);
const events = (reason: string) => (sandbox.listEvents() as Event[]).filter((e) => e.reason === reason && e.involvedObject?.name === NODE);
const control = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${emulator.url}/_emulator/scheduledevents${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  expect(res.status).toBeLessThan(300);
};
const eventsPolls = () => emulator.requests().byPath[EVENTS_PATH] ?? 0;
const pollsPass = async (n: number) => {
  const start = eventsPolls();
  await waitFor(`${n} events polls`, eventsPolls, { accept: (c) => c >= start + n, timeoutMs: 20_000 });
};
const statusPatches = () => sandbox.counters().byVerbResource['patch nodes/status'] ?? 0;
const nodePatches = () => sandbox.counters().byVerbResource['patch nodes'] ?? 0;

beforeAll(async () => {
  emulator = await startEmulator({ port: 0, fixture: builtInFixture('default'), rateLimitPerSecond: 5 });
  sandbox = await startSandbox({ port: 0, nodes: [NODE] });
  const registered = sandbox.getNode(NODE)!;
  sandbox.putNode({ ...registered, spec: { ...(registered.spec as object), taints: [FOREIGN, STARTUP] } } as never);
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'imds-labeler-events-')), 'kubeconfig');
  sandbox.writeKubeconfig(kubeconfig);
  agent = await startAgentProcess([
    ...['--node-name', NODE, '--kubeconfig', kubeconfig, '--imds-endpoint', emulator.url, '--poll-period', '500ms', '--poll-jitter', '0'],
    ...['--scheduled-events', '--scheduled-events-period', '1s', '--maintenance-taint'],
  ]);
}, 60_000);
afterAll(async () => {
  await agent?.stop();
  await emulator?.close();
  await sandbox?.close();
});

describe('scheduled events on the node, end to end', () => {
  it('labels the node, drops the start-up taint in the same patch, keeps the foreign one, and says no maintenance is scheduled', async () => {
    await waitFor('condition', condition, { accept: (c) => c?.status === 'False', timeoutMs: 20_000 });
    expect(node().metadata.labels?.['imds-labeler.io/fault-domain']).toBe('0');
    expect(taints()).toEqual([FOREIGN]);
    expect(condition()).toMatchObject({ status: 'False', reason: 'NoMaintenanceScheduled' });
    // The kubelet's conditions are untouched by the strategic merge patch; a new one goes first, as on kube-apiserver.
    expect(node().status?.conditions?.map((c) => c.type)).toEqual([CONDITION, 'MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']);
  });

  it('nothing new: no write however many polls pass', async () => {
    await pollsPass(1);
    const before = { node: nodePatches(), status: statusPatches() };
    await pollsPass(4);
    expect({ node: nodePatches(), status: statusPatches() }).toEqual(before);
  });

  it('a reboot for this VM (and one for another VM of the set): condition, annotation, taint and one Warning Event, for ours only', async () => {
    await control('PUT', '', { Events: [reboot('ours'), reboot('theirs', ['othervm'])] });
    await waitFor('taint', taints, { accept: (t) => t.some((x) => x.key === MAINTENANCE.key), timeoutMs: 20_000 });
    await waitFor('condition', condition, { accept: (c) => c?.status === 'True', timeoutMs: 20_000 });
    expect(taints()).toEqual([FOREIGN, MAINTENANCE]);
    expect(condition()).toMatchObject({ reason: 'RebootScheduled', message: expect.stringContaining('(event ours)') });
    expect(JSON.parse(node().metadata.annotations![ANNOTATION]!)).toMatchObject({ eventId: 'ours', type: 'Reboot', status: 'Scheduled', source: 'Platform', durationSeconds: 15, pending: 1 });
    const scheduled = await waitFor('Event', () => events('MaintenanceScheduled'), { accept: (e) => e.length > 0, timeoutMs: 10_000 });
    expect(scheduled.map((e) => [e.type, e.message?.includes('(event ours)')])).toEqual([['Warning', true]]);
    expect(events('MaintenanceScheduled').some((e) => e.message?.includes('theirs'))).toBe(false);
  });

  it('the platform starts it: the condition follows, with an Event', async () => {
    const transition = condition()!.lastTransitionTime;
    await control('POST', '/ours/start');
    await waitFor('condition', condition, { accept: (c) => c?.reason === 'RebootStarted', timeoutMs: 20_000 });
    expect(condition()!.lastTransitionTime).toBe(transition);
    await waitFor('Event', () => events('MaintenanceStarted'), { accept: (e) => e.length === 1, timeoutMs: 10_000 });
  });

  it('an outage of the events endpoint: Unknown after three failed polls; labels, annotation and taint stay', async () => {
    const labels = node().metadata.labels;
    emulator.setFaults({ faults: [{ path: EVENTS_PATH, status: 500 }] });
    await waitFor('Unknown', condition, { accept: (c) => c?.status === 'Unknown', timeoutMs: 30_000 });
    expect(condition()!.reason).toBe('ScheduledEventsUnavailable');
    expect(node().metadata.labels).toEqual(labels);
    expect(taints()).toEqual([FOREIGN, MAINTENANCE]);
    expect(JSON.parse(node().metadata.annotations![ANNOTATION]!)).toMatchObject({ eventId: 'ours', status: 'Started' });
    const writes = statusPatches();
    await pollsPass(3);
    expect(statusPatches()).toBe(writes);
    emulator.setFaults({ faults: [] });
    await waitFor('back', condition, { accept: (c) => c?.reason === 'RebootStarted', timeoutMs: 30_000 });
  });

  it('the event vanishes (done or cancelled): taint and annotation gone, the condition False, an Event', async () => {
    await control('DELETE', '/ours');
    await waitFor('no taint', taints, { accept: (t) => !t.some((x) => x.key === MAINTENANCE.key), timeoutMs: 20_000 });
    await waitFor('condition', condition, { accept: (c) => c?.status === 'False', timeoutMs: 20_000 });
    expect(taints()).toEqual([FOREIGN]);
    expect(node().metadata.annotations?.[ANNOTATION]).toBeUndefined();
    await waitFor('Event', () => events('MaintenanceEnded'), { accept: (e) => e.length === 1, timeoutMs: 10_000 });
  });

  it('every IMDS answer of the run was within the VM\'s budget: no 429 from the emulator\'s throttle', async () => {
    const metrics = await agent.metrics();
    expect(metrics).not.toMatch(/imds_labeler_imds_throttled_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/imds_labeler_imds_requests_total\{imds_endpoint="scheduledevents",code="200"\} [1-9]/);
  });
});
