import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { DocumentError, INVALID_DOCUMENT_REASONS, parseInstanceDocument, type DocumentProblem, type InstanceDocument } from './document.ts';
import { ImdsError, abortedError, parseRetryAfter, statusCode, type ImdsEndpoint } from './imdsError.ts';
import { boundedGet, createDirectAgent, type RawResponse } from './http.ts';
import type { RateLimiter } from './rateLimiter.ts';
import { KNOWN_API_VERSIONS, newestCommonVersion } from './versions.ts';

/**
 * The IMDS client: one GET per call, each behind a token of the process-wide rate limiter, with
 * `Metadata: true`, straight to IMDS (never a proxy, never a redirect), bounded in time and size,
 * and metered. No retries here: see retry.ts.
 *
 * fetchInstance() reads compute and network with a single `GET /metadata/instance`. When IMDS
 * refuses the api-version with a 400 that lists its `newest-versions`, the client switches to the
 * newest version both sides know, asks again once at once, and keeps that version for later calls
 * until RECHECK_CONFIGURED_VERSION_MS have passed; then one call asks for the configured version
 * again and keeps it when it is offered. The document says which version answered (apiVersion),
 * so fields older versions lack read as unknown, not as absent.
 */

export const INSTANCE_PATH = '/metadata/instance';

type ImdsMetrics = Pick<
  Metrics,
  'imdsRequestDuration' | 'imdsRequests' | 'imdsErrors' | 'imdsThrottled' | 'imdsTimeouts' | 'imdsApiVersionFallbacks' | 'imdsLastSuccess' | 'imdsInvalidDocuments'
>;

export interface ImdsClientOptions {
  /** Base URL, such as http://169.254.169.254; the path of each call replaces any path here. */
  endpoint: string;
  apiVersion: string;
  connectTimeoutMs: number;
  /** Whole request, connect to last body byte. */
  requestTimeoutMs: number;
  maxResponseBytes: number;
  /** The process-wide limiter every IMDS call shares. */
  limiter: Pick<RateLimiter, 'acquire'>;
  clock?: Clock;
  metrics?: ImdsMetrics;
  logger?: Pick<Logger, 'warn' | 'debug' | 'info'>;
  /** Versions this build understands, newest first. Default KNOWN_API_VERSIONS. */
  knownVersions?: readonly string[];
  userAgent?: string;
}

/**
 * How long a fallback version is used before one poll asks for the configured version again: two
 * requests that poll when it is still refused, one request per poll otherwise.
 */
export const RECHECK_CONFIGURED_VERSION_MS = 10 * 60_000;

const BODY_SNIPPET = 200;
const HEADER_SNIPPET = 60;

export class ImdsClient {
  readonly #options: ImdsClientOptions;
  readonly #clock: Clock;
  readonly #agent: http.Agent;
  readonly #knownVersions: readonly string[];
  #apiVersion: string;
  /** When the client last fell back (or found the configured version still refused). */
  #fellBackAt: number | undefined;

  constructor(options: ImdsClientOptions) {
    const base = new URL(options.endpoint);
    if (base.protocol !== 'http:') throw new TypeError(`IMDS endpoint must be an http:// URL, got ${options.endpoint}`);
    this.#options = options;
    // Every reason starts at 0, so the first refused answer shows in rate() and on the dashboard.
    for (const reason of INVALID_DOCUMENT_REASONS) options.metrics?.imdsInvalidDocuments.inc({ reason }, 0);
    this.#clock = options.clock ?? systemClock;
    this.#agent = createDirectAgent();
    this.#knownVersions = options.knownVersions ?? KNOWN_API_VERSIONS;
    this.#apiVersion = options.apiVersion;
  }

  /** The api-version instance calls use now: the configured one, or the one fallen back to. */
  get apiVersion(): string {
    return this.#apiVersion;
  }

  /**
   * The instance document (compute and network): one request, or two when the api-version is
   * refused and a fallback is possible. Throws ImdsError.
   */
  async fetchInstance(signal?: AbortSignal): Promise<InstanceDocument> {
    const endpoint = 'instance';
    try {
      const configured = this.#options.apiVersion;
      // A fallback is not for life: a host mid-upgrade or rolled back offers the configured
      // version again, and the fields only it has (zone, environment, tagsList) come back with it.
      const recheck = this.#apiVersion !== configured && this.#fellBackAt !== undefined && this.#clock.now() - this.#fellBackAt >= RECHECK_CONFIGURED_VERSION_MS;
      let version = recheck ? configured : this.#apiVersion;
      let res = await this.#send(endpoint, INSTANCE_PATH, { 'api-version': version }, signal);
      if (res.status === 400) {
        const fallback = this.#fallbackVersion(res.body, version);
        if (fallback !== undefined) {
          this.#switchVersion(version, fallback);
          version = fallback;
          res = await this.#send(endpoint, INSTANCE_PATH, { 'api-version': fallback }, signal);
        }
      }
      this.#check(endpoint, res);
      let document: InstanceDocument;
      try {
        document = parseInstanceDocument(this.#decodeJson(endpoint, res));
      } catch (error) {
        if (!(error instanceof DocumentError)) throw error;
        this.#invalidDocument(endpoint, error.reason);
        throw new ImdsError({ kind: 'schema', endpoint, message: `IMDS ${endpoint}: ${error.message}`, cause: error });
      }
      if (version === configured) this.#restoreVersion(configured);
      this.#options.metrics?.imdsLastSuccess.set(this.#clock.now() / 1000);
      return { ...document, apiVersion: version };
    } catch (error) {
      throw this.#failed(endpoint, error, signal);
    }
  }

  /**
   * One GET of any IMDS JSON resource, for callers that bring their own path and query (the
   * api-version included), such as scheduled events or attested data. `timeoutMs` replaces the
   * request timeout for this call (the first scheduled-events call may take two minutes). Throws
   * ImdsError.
   */
  async getJson(endpoint: ImdsEndpoint, path: string, query: Record<string, string>, signal?: AbortSignal, timeoutMs?: number): Promise<unknown> {
    try {
      const res = await this.#send(endpoint, path, query, signal, timeoutMs);
      this.#check(endpoint, res);
      return this.#decodeJson(endpoint, res);
    } catch (error) {
      throw this.#failed(endpoint, error, signal);
    }
  }

  /** One GET of a text resource, such as a leaf with format=text. Throws ImdsError. */
  async getText(endpoint: ImdsEndpoint, path: string, query: Record<string, string>, signal?: AbortSignal): Promise<string> {
    try {
      const res = await this.#send(endpoint, path, query, signal);
      this.#check(endpoint, res);
      return res.body.toString('utf8');
    } catch (error) {
      throw this.#failed(endpoint, error, signal);
    }
  }

  /** Takes a token, sends the GET, meters it. Resolves for any HTTP status. */
  async #send(endpoint: ImdsEndpoint, path: string, query: Record<string, string>, signal: AbortSignal | undefined, timeoutMs?: number): Promise<RawResponse> {
    const options = this.#options;
    const url = new URL(path, options.endpoint);
    url.search = new URLSearchParams(query).toString();

    try {
      await options.limiter.acquire(signal);
    } catch (error) {
      throw signal?.aborted ? abortedError(endpoint, signal) : error;
    }

    const metrics = options.metrics;
    const started = performance.now();
    let code: string;
    try {
      const res = await boundedGet({
        url,
        endpoint,
        // Exactly these headers: IMDS refuses requests without Metadata or with X-Forwarded-For.
        headers: { Metadata: 'true', 'User-Agent': options.userAgent ?? 'imds-labeler' },
        agent: this.#agent,
        connectTimeoutMs: options.connectTimeoutMs,
        timeoutMs: timeoutMs ?? options.requestTimeoutMs,
        maxBytes: options.maxResponseBytes,
        signal,
      });
      code = statusCode(res.status);
      return res;
    } catch (error) {
      const e = error instanceof ImdsError ? error : new ImdsError({ kind: 'network', endpoint, message: String(error), cause: error });
      code = e.status !== undefined ? statusCode(e.status) : e.code;
      if (e.kind === 'timeout') metrics?.imdsTimeouts.inc({ imds_endpoint: endpoint });
      throw e;
    } finally {
      metrics?.imdsRequestDuration.observe({ imds_endpoint: endpoint, code: code! }, (performance.now() - started) / 1000);
      metrics?.imdsRequests.inc({ imds_endpoint: endpoint, code: code! });
      if (code! === '429') metrics?.imdsThrottled.inc({ imds_endpoint: endpoint });
    }
  }

  /** Throws the ImdsError a non-2xx answer stands for. */
  #check(endpoint: ImdsEndpoint, res: RawResponse): void {
    if (res.status >= 200 && res.status <= 299) return;
    const detail = describeBody(res);
    if (res.status >= 300 && res.status <= 399) {
      const location = res.headers.location;
      throw new ImdsError({
        kind: 'redirect',
        endpoint,
        status: res.status,
        message: `IMDS ${endpoint}: HTTP ${res.status} redirect${location ? ` to ${location}` : ''} refused: IMDS never redirects, so something sits in between`,
      });
    }
    throw new ImdsError({
      kind: 'http',
      endpoint,
      status: res.status,
      retryAfterMs: parseRetryAfter(res.headers['retry-after'], this.#clock.now()),
      message: `IMDS ${endpoint}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`,
    });
  }

  #decodeJson(endpoint: ImdsEndpoint, res: RawResponse): unknown {
    const contentType = String(res.headers['content-type'] ?? '').toLowerCase();
    const text = res.body.toString('utf8');
    if (contentType.includes('html') || /^\s*</.test(text)) {
      this.#invalidDocument(endpoint, 'html');
      // Not quoted: a page labelled HTML may be the instance document itself, tags and all.
      throw new ImdsError({
        kind: 'schema',
        endpoint,
        message: `IMDS ${endpoint}: got ${res.body.length} bytes of HTML (Content-Type ${quotedHeader(contentType)}) instead of JSON: a proxy or captive portal in the way?`,
      });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      // No quote of the body, nor JSON.parse's message (which quotes it too): a cut or garbled
      // instance document holds tag values, and this message reaches the logs at warn.
      this.#invalidDocument(endpoint, 'not-json');
      throw new ImdsError({ kind: 'schema', endpoint, message: `IMDS ${endpoint}: body is not JSON (${res.body.length} bytes, cut short or garbled)`, cause: error });
    }
  }

  /** Counts an instance answer that is no instance document; other endpoints have their own shapes. */
  #invalidDocument(endpoint: ImdsEndpoint, reason: DocumentProblem | 'html' | 'not-json'): void {
    if (endpoint === 'instance') this.#options.metrics?.imdsInvalidDocuments.inc({ reason });
  }

  /** The version to fall back to, when a 400 lists versions and one of them beats `current`. */
  #fallbackVersion(body: Buffer, current: string): string | undefined {
    let offered: unknown;
    try {
      offered = (JSON.parse(body.toString('utf8')) as Record<string, unknown> | null)?.['newest-versions'];
    } catch {
      return undefined;
    }
    if (!Array.isArray(offered)) return undefined;
    const choice = newestCommonVersion(offered.filter((v): v is string => typeof v === 'string'), this.#knownVersions);
    return choice === current ? undefined : choice;
  }

  #switchVersion(from: string, to: string): void {
    this.#fellBackAt = this.#clock.now();
    // Concurrent calls may all see the 400, and a recheck may find the configured version still
    // refused: only a change of version is logged and counted.
    if (this.#apiVersion === to) return;
    this.#apiVersion = to;
    this.#options.metrics?.imdsApiVersionFallbacks.inc({ to_version: to });
    this.#options.logger?.warn(
      { from, to },
      'IMDS refused api-version %s; using %s, the newest version it offers that this agent knows, and asking for %s again every %d minutes',
      from,
      to,
      this.#options.apiVersion,
      RECHECK_CONFIGURED_VERSION_MS / 60_000,
    );
  }

  #restoreVersion(configured: string): void {
    this.#fellBackAt = undefined;
    if (this.#apiVersion === configured) return;
    const from = this.#apiVersion;
    this.#apiVersion = configured;
    this.#options.logger?.info({ from, to: configured }, 'IMDS offers api-version %s again; using it instead of %s', configured, from);
  }

  /** Normalises a failure to an ImdsError and counts it. */
  #failed(endpoint: ImdsEndpoint, error: unknown, signal: AbortSignal | undefined): ImdsError {
    let e: ImdsError;
    if (signal?.aborted) e = error instanceof ImdsError && error.kind === 'aborted' ? error : abortedError(endpoint, signal);
    else if (error instanceof ImdsError) e = error;
    else e = new ImdsError({ kind: 'network', endpoint, message: `IMDS ${endpoint}: ${String(error)}`, cause: error });
    if (e.kind !== 'aborted') {
      this.#options.metrics?.imdsErrors.inc({ imds_endpoint: endpoint, class: e.retryable ? 'retryable' : 'fatal', code: e.code });
    }
    return e;
  }
}

/** A header value for a message: short and JSON-quoted, so control characters show. */
function quotedHeader(value: string): string {
  return JSON.stringify(value.length > HEADER_SNIPPET ? `${value.slice(0, HEADER_SNIPPET)}…` : value);
}

/**
 * IMDS's own error message, when the body is its JSON error ({"error": "...", and at most
 * "newest-versions"}); else only the size. Nothing else of the body is quoted: a non-2xx answer
 * may carry the instance document, tag values included, and this message reaches the logs at warn.
 */
function describeBody(res: RawResponse): string {
  if (res.body.length === 0) return '';
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const { error, 'newest-versions': _versions, ...rest } = parsed as Record<string, unknown>;
      if (typeof error === 'string' && Object.keys(rest).length === 0) {
        const flat = error.replace(/\s+/g, ' ').trim();
        return JSON.stringify(flat.length > BODY_SNIPPET ? `${flat.slice(0, BODY_SNIPPET)}…` : flat);
      }
    }
  } catch {
    // not JSON: not quoted either
  }
  return `${res.body.length}-byte body, not quoted`;
}
