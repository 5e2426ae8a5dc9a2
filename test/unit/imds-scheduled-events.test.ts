import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { ImdsClient } from '../../src/imds/client.ts';
import { ImdsError } from '../../src/imds/imdsError.ts';
import { RateLimiter } from '../../src/imds/rateLimiter.ts';
import { createScheduledEventsFetcher, parseScheduledEvents, SCHEDULED_EVENTS_PATH } from '../../src/imds/scheduledEvents.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { emulatorPerTest } from '../helpers/emulator.ts';
import { imdsFailure, metricSum } from '../helpers/metrics.ts';

const emulator = emulatorPerTest();

const fixture = (events: object[] = []) => ({
  compute: { name: 'vm1' },
  scheduledEvents: { DocumentIncarnation: 3, Events: events },
});
const reboot = { EventId: 'r', EventType: 'Reboot', ResourceType: 'VirtualMachine', Resources: ['vm1'], EventStatus: 'Scheduled', NotBefore: 'Mon, 05 May 2025 12:15:00 GMT', Description: '', EventSource: 'Platform', DurationInSeconds: 15 };

function clientFor(url: string, requestTimeoutMs: number) {
  const metrics = createMetrics({ version: 'test' });
  const limiter = new RateLimiter({ requestsPerSecond: 2, burst: 2, clock: systemClock, metrics });
  return { metrics, client: new ImdsClient({ endpoint: url, apiVersion: '2025-04-07', connectTimeoutMs: 1_000, requestTimeoutMs, maxResponseBytes: 1 << 20, limiter, metrics }) };
}

describe('the scheduled events fetcher against the emulator', () => {
  it('one GET per call, with the events api-version, answered as a typed document', async () => {
    const e = await emulator({ fixture: fixture([reboot]) });
    const { client, metrics } = clientFor(e.url, 2_000);
    const fetch = createScheduledEventsFetcher({ client, requestTimeoutMs: 2_000, firstCallTimeoutMs: 10_000 });
    const document = await fetch(new AbortController().signal);
    expect(document).toEqual({ incarnation: 3, events: [expect.objectContaining({ id: 'r', type: 'Reboot', notBefore: Date.parse('2025-05-05T12:15:00Z') })] });
    await fetch(new AbortController().signal);
    expect(e.requests().byPath[SCHEDULED_EVENTS_PATH]).toBe(2);
    expect(e.requests().total).toBe(2);
    expect(await metricSum(metrics.imdsRequests, { imds_endpoint: 'scheduledevents', code: '200' })).toBe(2);
  });

  it('the slow first call (the service turning on) is waited for past the ordinary request timeout', async () => {
    // Real time on both sides: the emulator holds the first answer 2.5 s, the ordinary timeout is 1 s.
    const e = await emulator({ clock: systemClock, scheduledEventsWarmupMs: 2_500, fixture: fixture([reboot]) });
    const { client } = clientFor(e.url, 1_000);
    const fetch = createScheduledEventsFetcher({ client, requestTimeoutMs: 1_000, firstCallTimeoutMs: 30_000 });
    expect((await fetch(new AbortController().signal)).events.map((ev) => ev.id)).toEqual(['r']);
    expect((await fetch(new AbortController().signal)).incarnation).toBe(3);
    expect(e.requests().byPath[SCHEDULED_EVENTS_PATH]).toBe(2);
  });

  it('without the long first-call timeout the same call times out: the test above can fail', async () => {
    const e = await emulator({ clock: systemClock, scheduledEventsWarmupMs: 2_500, fixture: fixture() });
    const { client } = clientFor(e.url, 1_000);
    const fetch = createScheduledEventsFetcher({ client, requestTimeoutMs: 1_000, firstCallTimeoutMs: 1_000 });
    expect((await imdsFailure(fetch(new AbortController().signal))).kind).toBe('timeout');
  });

  it('a garbled answer is a schema error', async () => {
    const e = await emulator({ fixture: fixture(), faults: { faults: [{ path: SCHEDULED_EVENTS_PATH, malformed: true }] } });
    const { client } = clientFor(e.url, 2_000);
    const fetch = createScheduledEventsFetcher({ client, requestTimeoutMs: 2_000, firstCallTimeoutMs: 2_000 });
    const error = await imdsFailure(fetch(new AbortController().signal));
    expect(error).toBeInstanceOf(ImdsError);
    expect(error.kind).toBe('schema');
  });
});

describe('which timeout each call gets', () => {
  /** The client seam: what the fetcher asks of getJson, answered from a script. */
  function scripted(answers: ('ok' | 'fail')[]) {
    const timeouts: (number | undefined)[] = [];
    const client = {
      getJson: async (_endpoint: string, _path: string, _query: Record<string, string>, _signal?: AbortSignal, timeoutMs?: number) => {
        timeouts.push(timeoutMs);
        if (answers.shift() === 'fail') throw new ImdsError({ kind: 'timeout', endpoint: 'scheduledevents', message: 'timeout' });
        return { DocumentIncarnation: 1, Events: [] };
      },
    };
    return { timeouts, fetch: createScheduledEventsFetcher({ client, requestTimeoutMs: 5_000, firstCallTimeoutMs: 150_000 }) };
  }

  it.each<[string, ('ok' | 'fail')[], number[]]>([
    ['the first call is long, the next ones ordinary', ['ok', 'ok', 'ok'], [150_000, 5_000, 5_000]],
    ['until one succeeds, every call is long', ['fail', 'fail', 'ok', 'ok'], [150_000, 150_000, 150_000, 5_000]],
    ['after a failure the next call is long again (the service may have turned off)', ['ok', 'fail', 'ok', 'ok'], [150_000, 5_000, 150_000, 5_000]],
  ])('%s', async (_name, answers, expected) => {
    const s = scripted([...answers]);
    for (let i = 0; i < answers.length; i++) await s.fetch(new AbortController().signal).catch(() => undefined);
    expect(s.timeouts).toEqual(expected);
  });
});

describe('parseScheduledEvents', () => {
  const event = { EventId: 'e1', EventType: 'Reboot', EventStatus: 'Scheduled', Resources: ['vm1'], NotBefore: 'Mon, 05 May 2025 12:15:00 GMT', DurationInSeconds: 15, EventSource: 'Platform', Description: '' };
  it.each<[string, unknown, string]>([
    ['not an object', [], 'the document: Invalid input: expected object, received array'],
    ['no incarnation', { Events: [] }, 'DocumentIncarnation: Invalid input: expected number, received undefined'],
    ['a negative incarnation', { DocumentIncarnation: -1, Events: [] }, 'DocumentIncarnation: Too small: expected number to be >=0'],
    ['an event without an id', { DocumentIncarnation: 1, Events: [{ ...event, EventId: '' }] }, 'Events.0.EventId: Too small: expected string to have >=1 characters'],
    ['a duration that is no integer', { DocumentIncarnation: 1, Events: [{ ...event, DurationInSeconds: 1.5 }] }, 'Events.0.DurationInSeconds: Invalid input: expected int, received number'],
    ['resources that are no list', { DocumentIncarnation: 1, Events: [{ ...event, Resources: 'vm1' }] }, 'Events.0.Resources: Invalid input: expected array, received string'],
  ])('refuses %s, naming the first problem', (_name, body, problem) => {
    expect(() => parseScheduledEvents(body)).toThrow(`IMDS scheduledevents: not a scheduled events document (${problem})`);
  });

  it('reads IMDS\'s loose spellings: digits as numbers, null as "" or [], a number as text', () => {
    const { NotBefore: _, ...rest } = event;
    expect(parseScheduledEvents({ DocumentIncarnation: '4', Events: [{ ...rest, EventType: 7, Resources: null, DurationInSeconds: ' -1 ', Description: null }] })).toEqual({
      incarnation: 4,
      events: [{ id: 'e1', type: '7', status: 'Scheduled', resources: [], notBefore: undefined, durationSeconds: -1, source: 'Platform', description: '' }],
    });
    expect(parseScheduledEvents({ DocumentIncarnation: 0, Events: null })).toEqual({ incarnation: 0, events: [] });
  });
});
