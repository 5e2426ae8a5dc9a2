/**
 * Fault plans for the sandbox: what the API server does wrong, to which requests.
 *
 * Each fault matches requests by verb, resource, name and namespace and carries one action: a `status`
 * (an error Status with that code: 429 with Retry-After, 500, a 409 Conflict storm, 410, ...), a
 * `watchError` (a watch that opens, then sends one ERROR event and closes, as apiserver does for an
 * expired resourceVersion), or `dropWatch` (a watch cut after K events or T ms). `latencyMs` delays the
 * request, alone or before the action. Matching faults are checked in order; `skip` lets the first N
 * matches through, `times` uses the fault up after N, `forSeconds` ends it that long after its first
 * match. `refuse` works at the connection level: sockets are reset (ECONNRESET) or the listener is
 * closed (ECONNREFUSED) for a period or a number of connections.
 */
import * as z from 'zod';
import { FaultPlanError, decodePlanText, parsePlan, readPlanFile } from '../faultPlan.ts';

export const FAULT_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'read', 'write', '*'] as const;
export type FaultVerb = (typeof FAULT_VERBS)[number];

const verb = z.enum(FAULT_VERBS, { error: `expected one of ${FAULT_VERBS.join(', ')}` });
const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);
const httpError = z.number().int().min(400, { error: 'an HTTP error code from 400 to 599' }).max(599, { error: 'an HTTP error code from 400 to 599' });

export const FAULT_ACTIONS = ['status', 'watchError', 'dropWatch'] as const;

const faultSchema = z
  .strictObject({
    verb: oneOrMany(verb).default('*'),
    /** `nodes` (also matches `nodes/status`), `nodes/status`, `events`, or `*`. */
    resource: oneOrMany(z.string().min(1)).default('*'),
    name: z.string().optional(),
    namespace: z.string().optional(),
    times: z.number().int().positive().optional(),
    skip: z.number().int().nonnegative().optional(),
    forSeconds: z.number().positive().optional(),
    latencyMs: z.number().int().nonnegative().max(3_600_000).optional(),
    status: httpError.optional(),
    /** Retry-After seconds for status answers (429 defaults to 1). */
    retryAfter: z.number().int().nonnegative().optional(),
    message: z.string().optional(),
    watchError: httpError.optional(),
    dropWatch: z
      .strictObject({
        afterEvents: z.number().int().nonnegative().optional(),
        afterMs: z.number().int().nonnegative().optional(),
        /** `reset`: destroy the socket mid-stream; `end`: finish the chunked response cleanly. */
        mode: z.enum(['reset', 'end']).default('reset'),
      })
      .refine((d) => d.afterEvents !== undefined || d.afterMs !== undefined, { error: 'dropWatch needs afterEvents or afterMs' })
      .optional(),
  })
  .superRefine((f, ctx) => {
    const chosen = FAULT_ACTIONS.filter((a) => f[a] !== undefined);
    if (chosen.length > 1) ctx.addIssue({ code: 'custom', message: `a fault has one action; this one has ${chosen.join(' and ')}: split it into two faults` });
    if (chosen.length === 0 && f.latencyMs === undefined) {
      ctx.addIssue({ code: 'custom', message: `a fault needs an action: one of ${FAULT_ACTIONS.join(', ')}, or latencyMs` });
    }
  });

const refuseSchema = z
  .strictObject({
    /** Refuse for this long after the plan is set. */
    forMs: z.number().int().positive().optional(),
    /** Refuse the next N connections (mode reset only). */
    connections: z.number().int().positive().optional(),
    /** `reset`: accept and destroy each socket (ECONNRESET); `close`: stop listening (ECONNREFUSED). */
    mode: z.enum(['reset', 'close']).default('reset'),
  })
  .superRefine((r, ctx) => {
    if ((r.forMs === undefined) === (r.connections === undefined)) ctx.addIssue({ code: 'custom', message: 'refuse needs exactly one of forMs or connections' });
    if (r.mode === 'close' && r.forMs === undefined) ctx.addIssue({ code: 'custom', path: ['mode'], message: 'mode close needs forMs' });
  });

export const sandboxFaultsSchema = z.strictObject({
  faults: z.array(faultSchema).default([]),
  refuse: refuseSchema.optional(),
});

/** A fault plan as written: in a faults file, a POST /_sandbox/faults body or a setFaults call. */
export type SandboxFaults = z.input<typeof sandboxFaultsSchema>;
export type SandboxFault = z.input<typeof faultSchema>;
export type ResolvedSandboxFaults = z.output<typeof sandboxFaultsSchema>;
type ResolvedFault = ResolvedSandboxFaults['faults'][number];

export { FaultPlanError };

/** Validates a plan; throws FaultPlanError naming the first offending field. */
export function parseSandboxFaults(input: unknown, source = 'sandbox faults'): ResolvedSandboxFaults {
  return parsePlan(sandboxFaultsSchema, input, source);
}

/** Reads a faults file (YAML or JSON). Throws FaultPlanError. */
export function readSandboxFaultsFile(path: string): ResolvedSandboxFaults {
  return parseSandboxFaults(decodePlanText(readPlanFile(path), path), path);
}

export interface FaultRequest {
  verb: string;
  /** `nodes`, `nodes/status`, `events`. */
  resource: string;
  name?: string;
  namespace?: string;
}

/** What the faults decided for one request. */
export interface FaultDecision {
  latencyMs: number;
  status?: { code: number; retryAfter?: number; message?: string };
  watchError?: { code: number; message?: string };
  dropWatch?: { afterEvents?: number; afterMs?: number; mode: 'reset' | 'end' };
}

const READ = new Set(['get', 'list', 'watch']);
const WRITE = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

function verbMatches(rule: FaultVerb | FaultVerb[], v: string): boolean {
  const list = Array.isArray(rule) ? rule : [rule];
  return list.some((r) => r === '*' || r === v || (r === 'read' && READ.has(v)) || (r === 'write' && WRITE.has(v)));
}

function resourceMatches(rule: string | string[], r: string): boolean {
  const list = Array.isArray(rule) ? rule : [rule];
  return list.some((x) => x === '*' || x === r || r.startsWith(`${x}/`));
}

interface FaultState {
  fault: ResolvedFault;
  skipLeft: number;
  timesLeft: number;
  firstMatchAt?: number;
}

/** The live plan: counts used up, windows started. */
export class FaultEngine {
  #states: FaultState[] = [];
  #refuse: ResolvedSandboxFaults['refuse'];
  #refuseUntil = 0;
  #refuseLeft = 0;
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  set(plan: ResolvedSandboxFaults): void {
    this.#states = plan.faults.map((fault) => ({ fault, skipLeft: fault.skip ?? 0, timesLeft: fault.times ?? Infinity }));
    this.#refuse = plan.refuse;
    this.#refuseUntil = plan.refuse?.forMs !== undefined ? this.#now() + plan.refuse.forMs : 0;
    this.#refuseLeft = plan.refuse?.connections ?? 0;
  }

  /** The refuse section of the current plan, if any. */
  get refuse(): ResolvedSandboxFaults['refuse'] {
    return this.#refuse;
  }

  /** Whether a new connection must be refused now (uses up one of `connections`). */
  refuseConnection(): boolean {
    if (!this.#refuse) return false;
    if (this.#refuse.connections !== undefined) {
      if (this.#refuseLeft <= 0) return false;
      this.#refuseLeft--;
      return true;
    }
    return this.#now() < this.#refuseUntil;
  }

  decide(req: FaultRequest): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0 };
    let acted = false;
    const now = this.#now();
    for (const s of this.#states) {
      const f = s.fault;
      if (!verbMatches(f.verb, req.verb) || !resourceMatches(f.resource, req.resource)) continue;
      if (f.name !== undefined && f.name !== req.name) continue;
      if (f.namespace !== undefined && f.namespace !== req.namespace) continue;
      if (f.dropWatch !== undefined && req.verb !== 'watch') continue;
      if (f.watchError !== undefined && req.verb !== 'watch') continue;
      const hasAction = f.status !== undefined || f.watchError !== undefined || f.dropWatch !== undefined;
      if (hasAction && acted) continue;
      if (s.timesLeft <= 0) continue;
      if (s.firstMatchAt !== undefined && f.forSeconds !== undefined && now - s.firstMatchAt >= f.forSeconds * 1000) continue;
      if (s.skipLeft > 0) {
        s.skipLeft--;
        continue;
      }
      s.firstMatchAt ??= now;
      s.timesLeft--;
      decision.latencyMs += f.latencyMs ?? 0;
      if (f.status !== undefined) {
        decision.status = { code: f.status, ...(f.retryAfter !== undefined ? { retryAfter: f.retryAfter } : {}), ...(f.message ? { message: f.message } : {}) };
      } else if (f.watchError !== undefined) {
        decision.watchError = { code: f.watchError, ...(f.message ? { message: f.message } : {}) };
      } else if (f.dropWatch !== undefined) {
        decision.dropWatch = { ...f.dropWatch };
      }
      if (hasAction) acted = true;
    }
    return decision;
  }

  /** The plan with what is left of each fault, for GET /_sandbox/faults. */
  describe(): unknown {
    return {
      faults: this.#states.map((s) => ({ ...s.fault, remaining: s.timesLeft === Infinity ? null : s.timesLeft, skipRemaining: s.skipLeft })),
      ...(this.#refuse ? { refuse: this.#refuse } : {}),
    };
  }
}
