import type { Desired } from '../mapping/desired.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

/**
 * Reports the problems of each mapping (desired.problems): a gauge by source field and reason on
 * every document, and one warning per change of the set, naming the key, the field and the reason.
 * Never the value: a tag value has no place in the logs at warn, and a field's value is in the
 * debug line only.
 */
export function createProblemReporter(logger: Logger, metrics?: Pick<Metrics, 'mappingProblems'>): (desired: Desired) => void {
  let last = '';
  return (desired) => {
    const problems = desired.problems ?? [];
    metrics?.mappingProblems.reset();
    const counts = new Map<string, { field: string; reason: string; count: number }>();
    for (const p of problems) {
      const id = `${p.field}\u0000${p.reason}`;
      const entry = counts.get(id) ?? { field: p.field, reason: p.reason, count: 0 };
      entry.count++;
      counts.set(id, entry);
    }
    for (const { field, reason, count } of counts.values()) metrics?.mappingProblems.set({ field, reason }, count);

    const summary = problems.map((p) => ({ key: p.key, field: p.field, reason: p.reason }));
    const signature = JSON.stringify(summary);
    if (signature === last) return;
    last = signature;
    for (const p of summary) {
      logger.warn(p, p.reason === 'annotation-too-large' ? 'tags left out of the tags annotation to keep it under its size cap' : `IMDS sent a value for ${p.field} that is not a valid label value: ${p.key} is left as it is (its last good value, if it had one)`);
    }
    if (problems.length) logger.debug({ problems: problems.map((p) => p.message) }, 'mapping problems in full');
  };
}
