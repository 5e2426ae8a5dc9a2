/**
 * Typed IMDS errors. Every failure of an IMDS call reaches callers as an ImdsError, so the retry
 * policy and the metrics read one shape: `kind` says what went wrong, `retryable` whether another
 * attempt can help, and `code` is a short, bounded metric label value.
 *
 * Retryable (the contract's "retry later" answers and transient transport failures):
 *   410, 429, 5xx, connect and total timeouts, connection resets and refusals.
 * Not retryable: 400, 404, 405 and every other 4xx, 3xx (redirects are never followed),
 *   bodies that are not an instance document, bodies over the size cap, aborts.
 */

export type ImdsErrorKind = 'http' | 'timeout' | 'network' | 'too-large' | 'schema' | 'redirect' | 'aborted';

/**
 * The fixed set of IMDS endpoints, used as the `imds_endpoint` metric label: bounded on purpose.
 * 'scheduler' names the shared rate limiter in the error of an abort while waiting for a token;
 * it never reaches a metric (the client re-labels that abort with the endpoint it was calling,
 * and aborts are not counted as errors).
 */
export type ImdsEndpoint = 'instance' | 'scheduledevents' | 'attested' | 'versions' | 'scheduler';

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

export class ImdsError extends Error {
  readonly kind: ImdsErrorKind;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly endpoint: ImdsEndpoint;
  readonly code: string;
  readonly retryAfterMs: number | undefined;
  /** Attempts the call made before giving up with this error; set by fetchWithRetry, for logs. */
  attempts: number | undefined;

  constructor(options: ImdsErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ImdsError';
    this.kind = options.kind;
    this.endpoint = options.endpoint;
    this.status = options.status;
    this.retryable = options.retryable ?? defaultRetryable(options.kind, options.status);
    this.code = options.code ?? (options.status !== undefined ? String(options.status) : KIND_CODES[options.kind]);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isImdsError(error: unknown): error is ImdsError {
  return error instanceof ImdsError;
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

/** Whether an error of any origin says another attempt may help. Unknown errors are not retried. */
export function isRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}
