import { createMetrics } from '../../src/observability/metrics.ts';
import { describeRegistry, LINUX_ONLY } from '../../scripts/observability/metricsReference.ts';

/** Series names the agent exposes: every metric, and `_bucket`/`_sum`/`_count` of histograms. */
export async function knownSeriesNames(): Promise<Set<string>> {
  const refs = await describeRegistry(createMetrics({ version: 'x', processMetrics: true }).registry);
  const names = new Set<string>();
  for (const r of [...refs, ...LINUX_ONLY]) {
    if (r.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(r.name + s);
    else names.add(r.name);
  }
  return names;
}

/** Series names a PromQL expression selects (identifiers followed by a `{` matcher list). */
export function selectedNames(expr: string): string[] {
  return [...expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{/g)].map((x) => x[1]!).filter((n) => !['by', 'without', 'on', 'ignoring'].includes(n));
}

/** Every `name{matchers}` selector of an expression. */
export function selectors(expr: string): { name: string; matchers: string }[] {
  return [...expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}/g)].map((x) => ({ name: x[1]!, matchers: x[2]! }));
}

/** Range durations (`[15m]`, `[$__rate_interval]`) of an expression. */
export const ranges = (expr: string) => [...expr.matchAll(/\[([^\]]+)\]/g)].map((x) => x[1]!);

/** Identifiers with the agent's prefix anywhere in an expression. */
export const prefixedNames = (expr: string) => [...expr.matchAll(/\bimds_labeler_[a-z0-9_]+/g)].map((x) => x[0]);
