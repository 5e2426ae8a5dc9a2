/**
 * API request counters, by verb and by "verb resource" ("patch nodes", "list nodes", "watch nodes",
 * "create events", "patch nodes/status"). Every resource request that reaches the HTTP layer counts,
 * including the ones a fault answers and the ones that fail validation; discovery, /version, /openapi
 * and the /_sandbox control endpoints count only in `nonResource`.
 */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

export interface CounterSnapshot {
  total: number;
  byVerb: Record<string, number>;
  byVerbResource: Record<string, number>;
  /** create + update + patch + delete + deletecollection requests. */
  writes: number;
  /** Discovery, /version, /openapi and health requests (not in `total`). */
  nonResource: number;
}

export class Counters {
  #total = 0;
  #writes = 0;
  #nonResource = 0;
  #byVerb = new Map<string, number>();
  #byVerbResource = new Map<string, number>();

  record(verb: Verb, resource: string): void {
    this.#total++;
    if (WRITE_VERBS.has(verb)) this.#writes++;
    this.#byVerb.set(verb, (this.#byVerb.get(verb) ?? 0) + 1);
    const k = `${verb} ${resource}`;
    this.#byVerbResource.set(k, (this.#byVerbResource.get(k) ?? 0) + 1);
  }

  recordNonResource(): void {
    this.#nonResource++;
  }

  snapshot(): CounterSnapshot {
    return {
      total: this.#total,
      byVerb: Object.fromEntries(this.#byVerb),
      byVerbResource: Object.fromEntries(this.#byVerbResource),
      writes: this.#writes,
      nonResource: this.#nonResource,
    };
  }

  reset(): void {
    this.#total = 0;
    this.#writes = 0;
    this.#nonResource = 0;
    this.#byVerb.clear();
    this.#byVerbResource.clear();
  }
}
