import type { OwnershipKeys } from '../keys/keys.ts';

/**
 * Which keys the agent wrote, recorded on the node itself (as Node Feature Discovery does) so the
 * record survives restarts, rescheduling and people editing labels by hand. Only keys in this
 * record are ever removed; keys the agent never wrote are never touched.
 */
export interface Ownership {
  labels: ReadonlySet<string>;
  annotations: ReadonlySet<string>;
}

const parseList = (value: string | undefined) =>
  new Set((value ?? '').split(',').map((k) => k.trim()).filter(Boolean));

export const formatList = (keys: Iterable<string>) => [...keys].sort().join(',');

export function readOwnership(annotations: Record<string, string>, keys: OwnershipKeys): Ownership {
  return { labels: parseList(annotations[keys.labels]), annotations: parseList(annotations[keys.annotations]) };
}
