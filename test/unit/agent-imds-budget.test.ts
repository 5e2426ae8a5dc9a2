import { describe, expect, it } from 'vitest';
import { startAgentLoops } from '../../src/agent/loops.ts';
import { configSchema } from '../../src/config/schema.ts';
import { createImds } from '../../src/imds/index.ts';
import { createScheduledEventsFetcher, SCHEDULED_EVENTS_PATH } from '../../src/imds/scheduledEvents.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import { emulatorPerTest } from '../helpers/emulator.ts';
import { FakeClock } from '../helpers/fakeClock.ts';
import { MemoryNodeClient } from '../helpers/memoryNodeClient.ts';
import { metricSum } from '../helpers/metrics.ts';

/**
 * The instance poll and the scheduled-events poll share the VM's IMDS budget through one token
 * bucket. Both run here as the agent runs them (startAgentLoops, the real IMDS client over HTTP
 * to the emulator), on fake time shared with the emulator, whose throttle is IMDS's own: 5
 * requests in any second, the rest 429. The instance poll is set to ask more than the bucket
 * gives (every 300 ms), the events poll at its fastest (1 s).
 */

const emulator = emulatorPerTest();
const base = builtInFixture('default') as { compute: Record<string, unknown> };
const reboot = { EventId: 'r', EventType: 'Reboot', ResourceType: 'VirtualMachine', Resources: ['vm-budget'], EventStatus: 'Scheduled', NotBefore: 'Thu, 01 May 2025 13:00:00 GMT', Description: '', EventSource: 'Platform', DurationInSeconds: 15 };

describe('one IMDS budget for instance and scheduled-events polls', () => {
  it('one request per events poll, never more than 4 IMDS requests in any second, and no 429', async () => {
    const clock = new FakeClock();
    const e = await emulator({
      clock,
      rateLimitPerSecond: 5,
      fixture: { ...base, compute: { ...base.compute, name: 'vm-budget' }, scheduledEvents: { DocumentIncarnation: 1, Events: [reboot] } },
    });
    const config = configSchema.parse({
      imds: { endpoint: e.url },
      poll: { period: '300ms', jitter: 0 },
      scheduledEvents: { enabled: true, period: '1s' },
      kube: { events: false },
    });
    const metrics = createMetrics({ version: 'test' });
    const imds = createImds(config.imds, { clock, random: () => 0.5, metrics });
    const acquired: number[] = [];
    const acquire = imds.limiter.acquire.bind(imds.limiter);
    imds.limiter.acquire = async (signal) => {
      await acquire(signal);
      acquired.push(clock.now());
    };
    let eventsPolls = 0;
    const fetchEvents = createScheduledEventsFetcher({ client: imds.client, requestTimeoutMs: config.imds.requestTimeout, firstCallTimeoutMs: config.scheduledEvents.firstCallTimeout });
    const client = new MemoryNodeClient();
    client.put({ name: 'n1', labels: {}, annotations: {} });
    const loops = startAgentLoops(config, {
      nodeName: 'n1',
      nodeClient: client,
      fetchInstance: (signal) => imds.fetchInstance(signal),
      // A poll counts once it is over; the one cut short by the stop never reached IMDS.
      fetchScheduledEvents: async (signal) => {
        try {
          return await fetchEvents(signal);
        } finally {
          if (!signal.aborted) eventsPolls++;
        }
      },
      logger: silentLogger(),
      metrics,
      clock,
      random: () => 0.5,
    });

    // Fake time moves in small steps; between steps the HTTP of the tokens taken so far completes.
    const settled = async () => {
      for (let i = 0; i < 400 && e.requests().total < acquired.length; i++) await new Promise((r) => setTimeout(r, 2));
      for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 1));
    };
    for (let step = 0; step < 240; step++) {
      await settled();
      await clock.advance(250);
    }
    await settled();
    await loops.stop();

    const counts = e.requests();
    expect(counts.byPath[SCHEDULED_EVENTS_PATH]).toBe(eventsPolls);
    expect(eventsPolls).toBeGreaterThanOrEqual(50);
    expect(counts.total).toBe(acquired.length);
    for (let i = 0; i + 4 < acquired.length; i++) expect(acquired[i + 4]! - acquired[i]!, `5 requests within one second from ${acquired[i]}`).toBeGreaterThan(1000);
    expect(await metricSum(metrics.imdsThrottled)).toBe(0);
    expect(client.nodes.get('n1')!.annotations['imds-labeler.io/scheduled-event']).toContain('"eventId":"r"');
    expect(client.nodes.get('n1')!.conditions).toEqual([expect.objectContaining({ type: 'imds-labeler.io/MaintenanceScheduled', status: 'True' })]);
  }, 60_000);
});
