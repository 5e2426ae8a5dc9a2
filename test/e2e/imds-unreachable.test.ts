import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { createImds, unreachableHint } from '../../src/imds/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { emulatorPerTest } from '../helpers/emulator.ts';
import { imdsFailure } from '../helpers/metrics.ts';

// Outside Azure nothing answers at 169.254.169.254: the agent says so on the first failure, with
// what to do, instead of retrying silently for the whole retry budget.

const INSTANCE = '/metadata/instance';
const emulator = emulatorPerTest();

function captured() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', format: 'json', destination: { write: (chunk: string) => void lines.push(...chunk.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)) } });
  const warnings = () => lines.filter((l) => l.level === 'warn');
  return { logger, warnings };
}

const config = (endpoint: string, retryBudget = '2s') => configSchema.parse({ imds: { endpoint, retryBudget } }).imds;

describe('IMDS that does not answer', () => {
  it('warns once, at the first failure, with the hint; IMDS answering again re-arms it', async () => {
    const imds = await emulator({ faults: { faults: [{ path: INSTANCE, reset: true, times: 3 }] } });
    const { logger, warnings } = captured();
    const stack = createImds(config(imds.url), { logger, random: () => 0 });

    await stack.fetchInstance(); // three resets, then the document
    expect(imds.requests().total).toBe(4);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      msg: unreachableHint(imds.url, 2000),
      imdsEndpoint: imds.url,
      retryBudgetMs: 2000,
      err: { type: 'ImdsError', kind: 'network' },
    });
    expect(String(warnings()[0]!.msg)).toContain('imds-labeler demo');
    expect(String(warnings()[0]!.msg)).toContain('--imds-endpoint');

    // Nothing listens any more: a new outage after a success is warned about again, once.
    const url = imds.url;
    await imds.close();
    await imdsFailure(stack.fetchInstance());
    await imdsFailure(stack.fetchInstance());
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ msg: unreachableHint(url, 2000), err: { type: 'ImdsError', kind: 'network', code: 'refused' } });
  });

  it.each([
    ['IMDS answering 503', { statuses: [503, 503] }],
    ['IMDS still starting (410)', { statuses: [410, 410] }],
  ])('says nothing of the kind for %s: IMDS is there', async (_name, spec) => {
    const imds = await emulator({ faults: { faults: [{ path: INSTANCE, ...spec }] } });
    const { logger, warnings } = captured();
    const stack = createImds(config(imds.url), { logger, random: () => 0 });
    await stack.fetchInstance();
    expect(imds.requests().total).toBe(3);
    expect(warnings()).toEqual([]);
  });
});
