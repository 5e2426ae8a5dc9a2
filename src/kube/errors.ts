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
  | 'credentials'
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
    return this.kind === 'throttled' || this.kind === 'server' || this.kind === 'network' || this.kind === 'conflict' || this.kind === 'credentials';
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

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

/** True for errors thrown below HTTP: refused, reset, DNS, socket closed. */
export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (e instanceof TypeError && /fetch failed|terminated|other side closed/i.test(e.message)) return true;
  }
  return false;
}

/** What an operator can do about a refusal, by status code. */
const ADVICE: Record<number, string> = {
  401: 'the API server did not accept the credentials: check the service account token (or the kubeconfig user) and that the token has not expired',
  403: "check the ClusterRole and ClusterRoleBinding the chart installs (nodes: get, list, watch, patch; events: create) and any admission policy the message names",
  422: 'an admission policy or the API server\'s validation refused the change; the message says which',
  400: 'the API server refused the request as malformed; the message says why',
  429: 'the API server is throttling this client (API Priority and Fairness); the agent retries after the Retry-After it sent',
};

/** What to do when the API server refuses to let the agent act as its node (kube.identity node). */
export const IMPERSONATION_ADVICE =
  'kube.identity is node, and acting as the node needs Kubernetes 1.36+ with the ConstrainedImpersonation feature gate on (beta, on by default since 1.36), ' +
  'RBAC granting impersonate:associated-node on nodes in authentication.k8s.io and impersonate-on:associated-node:<verb> on nodes and events (the chart renders it with identity.mode node), ' +
  "and a pod-bound service account token (the pod's projected token, which names its node); on an older cluster set identity.mode (kube.identity) to serviceAccount";

/**
 * True for a 403 that refused the impersonation itself rather than what the node asked for: the
 * API server's message names an impersonate verb ("cannot impersonate resource users",
 * "cannot impersonate-on:associated-node:list", "cannot impersonate:associated-node").
 */
export function isImpersonationRefusal(status: number, body: string | undefined): boolean {
  return status === 403 && /cannot impersonate\b/.test(parseStatus(body)?.message ?? '');
}

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The longest API message kept in a log line; apiserver messages are one sentence, a proxy's HTML page is not. */
const MAX_MESSAGE = 500;

/**
 * The log line for an API answer that is not a success: code, the Status `message` and `reason`
 * the API server sent (an RBAC denial, an admission policy's message, a validation error), and
 * what to do (`advice`, by default the status code's). `body` is the response text as received; a body that is not a Status (a proxy's
 * error page) contributes nothing but its absence.
 *
 * The message can quote what was sent (validation errors quote the invalid value), and what the
 * agent sends is tag values: every string in `redact` and every `Invalid value: "..."` is
 * replaced with `<redacted>`.
 */
export function describeStatus(code: number, body: string | undefined, redact: readonly string[] = [], advice: string | undefined = ADVICE[code]): string {
  const status = parseStatus(body);
  let message = status?.message?.trim();
  if (message) {
    message = message.replace(/Invalid value: "(?:[^"\\]|\\.)*"/g, 'Invalid value: "<redacted>"');
    for (const value of [...new Set(redact)].filter((v) => v.length > 0).sort((a, b) => b.length - a.length)) {
      message = message.split(JSON.stringify(value)).join('"<redacted>"');
      if (value.length >= 4) message = message.split(value).join('<redacted>');
    }
    if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE)}...`;
  }
  const phrase = REASON_PHRASES[code];
  let text = `Kubernetes API answered ${code}${phrase ? ` ${phrase}` : ''}`;
  if (message) text += `: ${message}`;
  if (status?.reason) text += ` (reason ${status.reason})`;
  if (advice) text += `; ${advice}`;
  return text;
}

function parseStatus(body: string | undefined): { message?: string; reason?: string } | undefined {
  if (!body || !/^\s*\{/.test(body)) return undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    if (!parsed || typeof parsed !== 'object') return undefined;
    const { kind, message, reason } = parsed as Record<string, unknown>;
    if (kind !== undefined && kind !== 'Status') return undefined;
    return { ...(typeof message === 'string' ? { message } : {}), ...(typeof reason === 'string' && reason ? { reason } : {}) };
  } catch {
    return undefined;
  }
}
