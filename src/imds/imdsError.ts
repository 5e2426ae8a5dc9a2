import { AgentError } from '../agentError.ts';

/**
 * Typed IMDS errors. Every failure of an IMDS call reaches callers as an ImdsError (an AgentError,
 * so the one retry classification, isRetryable, knows it): `kind` says what went wrong,
 * `retryable` whether another attempt can help, and `code` is a short, bounded metric label value.
 *
 * Retryable (the contract's "retry later" answers and transient transport failures):
 *   410, 429, 5xx, connect and total timeouts, connection resets and refusals.
 * Not retryable: 400, 404, 405 and every other 4xx, 3xx (redirects are never followed),
 *   bodies that are not an instance document, bodies over the size cap, aborts.
 */

export type ImdsErrorKind = 'http' | 'timeout' | 'network' | 'too-large' | 'schema' | 'redirect' | 'aborted';

/** The fixed set of IMDS endpoints, used as the `imds_endpoint` metric label: bounded on purpose. */
export type ImdsEndpoint = 'instance' | 'scheduledevents' | 'attested' | 'versions';

export interface ImdsErrorOptions {
  kind: ImdsErrorKind;
  endpoint: ImdsEndpoint;
  message: string;
  /** Defaults to what the kind and status imply (see retryableStatus). */
  retryable?: boolean;
  status?: number;
  /** Metric label; defaults to the status, else a name derived from the kind. */
  code?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

const KIND_CODES: Record<ImdsErrorKind, string> = {
  http: 'http',
  timeout: 'timeout',
  network: 'network',
  'too-large': 'too_large',
  schema: 'schema',
  redirect: 'redirect',
  aborted: 'aborted',
};

/**
 * The HTTP statuses the IMDS contract names, plus the redirects refused by name: each is its own
 * `code` label value. Any other status is `other`, so a server answering arbitrary statuses
 * cannot make one metric series per status (the status itself is in the error and the log).
 */
export const KNOWN_STATUSES: ReadonlySet<number> = new Set([200, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 429, 500, 502, 503, 504]);

/** The bounded `code` label value of an HTTP status. */
export function statusCode(status: number): string {
  return KNOWN_STATUSES.has(status) ? String(status) : 'other';
}

/** 410 (IMDS is not ready yet, retry for up to 70 s), 429 (throttled) and 5xx are worth another try. */
export function retryableStatus(status: number): boolean {
  return status === 410 || status === 429 || (status >= 500 && status <= 599);
}

function defaultRetryable(kind: ImdsErrorKind, status: number | undefined): boolean {
  switch (kind) {
    case 'http':
      return status !== undefined && retryableStatus(status);
    case 'timeout':
    case 'network':
      return true;
    default:
      return false;
  }
}

export class ImdsError extends AgentError<ImdsErrorKind> {
  readonly kind: ImdsErrorKind;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly endpoint: ImdsEndpoint;
  readonly code: string;
  /** Attempts the call made before giving up with this error; set by fetchWithRetry, for logs. */
  attempts: number | undefined;

  constructor(options: ImdsErrorOptions) {
    super(options.message, { cause: options.cause, retryAfterMs: options.retryAfterMs });
    this.name = 'ImdsError';
    this.kind = options.kind;
    this.endpoint = options.endpoint;
    this.status = options.status;
    this.retryable = options.retryable ?? defaultRetryable(options.kind, options.status);
    this.code = options.code ?? (options.status !== undefined ? statusCode(options.status) : KIND_CODES[options.kind]);
  }

  override logFields(): Record<string, unknown> {
    return { kind: this.kind, endpoint: this.endpoint, status: this.status, code: this.code, attempts: this.attempts, message: this.message };
  }
}

/** The error an aborted call rejects with; the signal's reason is kept as the cause. */
export function abortedError(endpoint: ImdsEndpoint, signal?: AbortSignal): ImdsError {
  return new ImdsError({
    kind: 'aborted',
    endpoint,
    message: `IMDS ${endpoint} call aborted`,
    cause: signal?.reason,
  });
}

export { parseRetryAfter } from '../backoff.ts';
