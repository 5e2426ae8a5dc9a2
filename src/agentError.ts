/**
 * The base of every error the agent classifies: IMDS failures (ImdsError), Kubernetes API
 * failures (KubeError), documents that are not instance documents (DocumentError) and a wait for
 * a rate-limiter token cut short (RateLimiterError). Each subclass names what went wrong in
 * `kind` and says in `retryable` whether another attempt after a backoff can help; callers check
 * them with instanceof, never by the shape of an object, so an error from a library that happens
 * to carry a `retryable` field is not mistaken for one of ours.
 */
export abstract class AgentError<Kind extends string = string> extends Error {
  abstract readonly kind: Kind;
  abstract readonly retryable: boolean;
  /** How long the server asked to wait before the next attempt (Retry-After), if it did. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** What a log line may say about this error: context, never a payload. */
  logFields(): Record<string, unknown> {
    return { kind: this.kind, message: this.message };
  }
}

/**
 * The one retry classification: only an AgentError that says so is retried. Unknown errors
 * (a TypeError from a bug, anything a library throws unwrapped) stop at once.
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof AgentError && error.retryable;
}
