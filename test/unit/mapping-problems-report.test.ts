import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { render } from '../../src/mapping/render.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createProblemReporter } from '../../src/observability/mappingProblems.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { doc, ZONAL_WIRE } from '../helpers/instanceDocuments.ts';

const labels = configSchema.parse({}).labels;

function reporter() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString())), done()) });
  const metrics = createMetrics({ version: 'test' });
  const report = createProblemReporter(createLogger({ level: 'info', format: 'json', destination }), metrics);
  return { lines, metrics, report: (compute: Record<string, unknown>) => report(render(doc(ZONAL_WIRE, compute), labels)) };
}

const gauge = async (m: ReturnType<typeof createMetrics>) => (await m.mappingProblems.get()).values.map((v) => ({ ...v.labels, value: v.value }));

describe('mapping problems are reported once per change, naming the field, never the value', () => {
  it.each([
    ['a zone with a trailing space', { zone: '1 ' }, 'compute.zone', 'imds-labeler.io/zone', '1 '],
    ['a location with a space', { location: 'West Europe' }, 'compute.location', 'imds-labeler.io/region', 'west europe'],
    ['a vmSize with spaces', { vmSize: 'Standard D4s v5' }, 'compute.vmSize', 'imds-labeler.io/vm-size', 'Standard D4s v5'],
  ])('%s', async (_name, compute, field, key, value) => {
    const t = reporter();
    for (let i = 0; i < 3; i++) t.report(compute);
    const warnings = t.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ field, key, reason: 'invalid-value' });
    expect(JSON.stringify(t.lines)).not.toContain(value);
    expect(await gauge(t.metrics)).toEqual([{ field, reason: 'invalid-value', value: 1 }]);
    // Fixed: the gauge drops to nothing, and a new problem is reported again.
    t.report({});
    expect(await gauge(t.metrics)).toEqual([]);
    t.report(compute);
    expect(t.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
  });
});
