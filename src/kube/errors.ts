import { AgentError } from '../agentError.ts';

export type KubeErrorKind =
  | 'conflict'
  | 'not-found'
  | 'gone'
  | 'throttled'
  | 'server'
  | 'network'
  | 'forbidden'
  | 'invalid'
  | 'aborted'
  | 'other';

/** A Kubernetes API failure, classified so the loop can decide to retry, re-read or give up. */
export class KubeError extends AgentError<KubeErrorKind> {
  readonly kind: KubeErrorKind;
  readonly status: number | undefined;
  constructor(kind: KubeErrorKind, message: string, status?: number, retryAfterMs?: number) {
    super(message, { retryAfterMs });
    this.name = 'KubeError';
    this.kind = kind;
    this.status = status;
  }

  /** Worth trying again after a backoff (a conflict is retried at once, after a fresh read). */
  get retryable(): boolean {
    return this.kind === 'throttled' || this.kind === 'server' || this.kind === 'network' || this.kind === 'conflict';
  }

  override logFields(): Record<string, unknown> {
    return { kind: this.kind, status: this.status, message: this.message };
  }

  /** Status code for metrics: the HTTP status, or the failure kind when none came back. */
  get code(): string {
    return this.status !== undefined ? String(this.status) : this.kind;
  }
}

export function kindForStatus(status: number): KubeErrorKind {
  if (status === 409) return 'conflict';
  if (status === 404) return 'not-found';
  if (status === 410) return 'gone';
  if (status === 429) return 'throttled';
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 400 || status === 422 || status === 415) return 'invalid';
  if (status >= 500) return 'server';
  return 'other';
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

/** True for errors thrown below HTTP: refused, reset, DNS, socket closed. */
export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (e instanceof TypeError && /fetch failed|terminated|other side closed/i.test(e.message)) return true;
  }
  return false;
}
