/**
 * Go-style durations ("60s", "500ms", "1m30s"), the notation Kubernetes users already write.
 * The grammar is one pattern, written for both engines that read it: JavaScript here and in ajv,
 * RE2 in helm (values.schema.json's duration definition is generated from it).
 */
export const DURATION_PATTERN = '^(?:0|(?:[0-9]+(?:\\.[0-9]+)?(?:ms|s|m|h))+)$';
const DURATION = new RegExp(DURATION_PATTERN);
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** What a duration looks like, for messages: the agent's and the values schema's. */
export const DURATION_EXAMPLES = 'a duration such as 500ms, 30s, 5m, 1h or 1m30s';

/** Milliseconds for a duration string, or undefined when it is not one. "0" is accepted. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit as string]!;
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
