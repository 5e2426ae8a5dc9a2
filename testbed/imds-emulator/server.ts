import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../src/clock.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { KNOWN_API_VERSIONS } from '../../src/imds/versions.ts';
import { ATTESTED_SINCE, NONCE, attestedPayload, createSigner, defaultNonce, type Signer } from './attested.ts';
import { available, documentForVersion } from './availability.ts';
import { CONTROL_PREFIX, control } from './control.ts';
import { FaultEngine, FaultPlanError, parseFaultPlan, parseFaultPlanText, underPrefix, type FaultPlan, type ResolvedFaultPlan } from './faults.ts';
import { fixtureSource, type Fixture, type FixtureSource } from './fixtures.ts';
import * as misbehave from './misbehave.ts';
import { MESSAGES, empty, error, htmlAnswer, json, methodNotAllowed, send, statusAnswer, text, type Answer } from './responses.ts';
import { childListing, isLeaf, leafText, lookup, segmentsOf } from './routes.ts';
import { SCHEDULED_EVENTS_API_VERSIONS, ScheduledEvents, startRequestsSchema } from './scheduledEvents.ts';
import { SlidingWindowLimiter } from './throttle.ts';
import { WatchedFile } from './watchedFile.ts';

export interface EmulatorOptions {
  /** Default 0: a free port, see `Emulator.port`. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** A built-in fixture name (default "default"), a JSON/YAML file (re-read when it changes), or a document. */
  fixture?: string | object;
  /** A faults file (YAML/JSON, re-read when it changes) or a plan. */
  faults?: string | FaultPlan;
  /** Time for throttling, fault durations, latency, slow drips and attested timestamps. */
  clock?: Clock;
  /** IMDS answers 5 requests per second per VM; the rest get 429. 0 disables. Default 5. */
  rateLimitPerSecond?: number;
  /** The api-versions the emulated VM answers. Default: KNOWN_API_VERSIONS. A fault plan may override. */
  supportedVersions?: string[];
  /** Warnings (a changed file that does not parse) and errors. Default: none. */
  logger?: Logger;
  /**
   * How long the first scheduled-events call waits while the service turns on (and the first call
   * after a day without one). Azure: up to two minutes. Default 0.
   */
  scheduledEventsWarmupMs?: number;
}

export interface RequestCounts {
  total: number;
  /** By URL path, without the query string. */
  byPath: Record<string, number>;
}

export interface Emulator {
  /** "http://127.0.0.1:PORT", no trailing slash. */
  url: string;
  port: number;
  /** Stops listening and drops every connection, hung ones included. */
  close(): Promise<void>;
  /** Replaces the fixture: a document, a built-in name or a file. Scheduled events reset when their section changes. */
  setFixture(fixture: string | object): void;
  /** Replaces the fault plan (and stops following a faults file). Throws FaultPlanError. */
  setFaults(plan: FaultPlan): void;
  /** Requests to the IMDS paths since the start or the last reset; control endpoints are not counted. */
  requests(): RequestCounts;
  resetCounters(): void;
}

const MAX_BODY = 1024 * 1024;
const DEFAULT_RATE_LIMIT = 5;
const INSTANCE = '/metadata/instance';

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const state = new EmulatorState(options);
  const server = createServer((req, res) => {
    state.handle(req, res).catch((err: unknown) => {
      options.logger?.error({ err }, 'emulator: request failed');
      if (!res.headersSent) send(res, error(500, `emulator: ${(err as Error).message}`));
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => state.close(server),
    setFixture: (fixture) => state.setFixture(fixture),
    setFaults: (plan) => state.setFaults(plan),
    requests: () => state.requests(),
    resetCounters: () => state.resetCounters(),
  };
}

class EmulatorState {
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #limiter: SlidingWindowLimiter;
  readonly #defaultRateLimit: number;
  readonly #defaultVersions: readonly string[];
  readonly #closing = new AbortController();
  readonly #eventsWarmupMs: number;

  #fixtureSource: FixtureSource;
  #fixture!: Fixture;
  #eventsKey: string | undefined;
  #events = new ScheduledEvents();
  #faultFile: WatchedFile<ResolvedFaultPlan> | undefined;
  #faults!: FaultEngine;
  #signer: Promise<Signer> | undefined;
  #total = 0;
  #byPath = new Map<string, number>();

  constructor(options: EmulatorOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.#defaultRateLimit = options.rateLimitPerSecond ?? DEFAULT_RATE_LIMIT;
    this.#eventsWarmupMs = options.scheduledEventsWarmupMs ?? 0;
    this.#limiter = new SlidingWindowLimiter(this.#defaultRateLimit, this.#clock);
    this.#defaultVersions =
      options.supportedVersions === undefined ? KNOWN_API_VERSIONS : parseFaultPlan({ supportedVersions: options.supportedVersions }, 'supportedVersions').supportedVersions!;
    this.#fixtureSource = fixtureSource(options.fixture);
    this.#applyFixture(this.#fixtureSource.poll().fixture);
    if (typeof options.faults === 'string') {
      const path = options.faults;
      try {
        this.#faultFile = new WatchedFile(path, parseFaultPlanText);
      } catch (err) {
        throw err instanceof FaultPlanError ? err : new FaultPlanError(`cannot read faults file ${path}: ${(err as Error).message}`);
      }
      this.#useFaults(this.#faultFile.value);
    } else {
      this.#useFaults(parseFaultPlan(options.faults ?? {}));
    }
  }

  // -- public surface ----------------------------------------------------------------------------

  setFixture(spec: string | object): void {
    const source = fixtureSource(spec);
    this.#fixtureSource = source;
    this.#applyFixture(source.poll().fixture);
  }

  setFaults(plan: unknown): void {
    const resolved = parseFaultPlan(plan);
    this.#faultFile = undefined;
    this.#useFaults(resolved);
  }

  requests(): RequestCounts {
    return { total: this.#total, byPath: Object.fromEntries(this.#byPath) };
  }

  resetCounters(): void {
    this.#total = 0;
    this.#byPath.clear();
  }

  async close(server: Server): Promise<void> {
    this.#closing.abort(new Error('emulator closing'));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  // -- state -------------------------------------------------------------------------------------

  #applyFixture(fixture: Fixture): void {
    this.#fixture = fixture;
    // Scheduled events keep their approvals until the fixture's own section changes.
    const key = JSON.stringify(fixture.scheduledEvents ?? null);
    if (key !== this.#eventsKey) {
      this.#eventsKey = key;
      this.#events = new ScheduledEvents(fixture.scheduledEvents);
    }
  }

  #useFaults(plan: ResolvedFaultPlan): void {
    this.#faults = new FaultEngine(plan);
    this.#limiter.limit = plan.rateLimitPerSecond ?? this.#defaultRateLimit;
  }

  #refresh(): void {
    const polled = this.#fixtureSource.poll();
    if (polled.error) this.#logger?.warn({ err: polled.error }, 'emulator: the changed fixture was rejected; serving the previous one');
    if (polled.changed) this.#applyFixture(polled.fixture);
    if (this.#faultFile) {
      const faults = this.#faultFile.poll();
      if (faults.error) this.#logger?.warn({ err: faults.error }, 'emulator: the changed faults file was rejected; keeping the previous plan');
      if (faults.changed) this.#useFaults(faults.value);
    }
  }

  #supportedVersions(): readonly string[] {
    return this.#faults.plan.supportedVersions ?? this.#defaultVersions;
  }

  // -- requests ----------------------------------------------------------------------------------

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://imds.invalid');
    const body = await readBody(req);
    if (underPrefix(url.pathname, CONTROL_PREFIX)) {
      this.#refresh();
      const target = {
        faultPlan: () => this.#faults.plan,
        setFaults: (plan: unknown) => this.setFaults(plan),
        requests: () => this.requests(),
        resetCounters: () => this.resetCounters(),
        fixture: () => this.#fixture,
        setFixture: (fixture: string | object) => this.setFixture(fixture),
        scheduledEvents: () => this.#events,
      };
      return send(res, body === undefined ? error(413, 'body too large') : control(target, req.method ?? 'GET', url, body));
    }

    this.#total++;
    this.#byPath.set(url.pathname, (this.#byPath.get(url.pathname) ?? 0) + 1);
    this.#refresh();

    const signal = requestSignal(res, this.#closing.signal);
    const decision = this.#faults.decide(url.pathname, this.#clock.now());
    if (decision && decision.latencyMs > 0) {
      try {
        await this.#clock.sleep(decision.latencyMs, signal);
      } catch {
        return void res.destroy();
      }
    }
    const action = decision?.action ?? { kind: 'none' };
    switch (action.kind) {
      case 'status':
        return send(res, statusAnswer(action.status, decision?.retryAfter));
      case 'hang':
        return; // The connection stays open until the client gives up or the emulator closes.
      case 'reset':
        return misbehave.reset(req);
      case 'html':
        return send(res, htmlAnswer(action.status));
      case 'hugeBody':
        return misbehave.hugeBody(res, action.bytes, signal);
      default:
        break;
    }

    const answer = body === undefined ? error(413, 'Request body too large') : await this.#answer(req, url, body);
    switch (action.kind) {
      case 'slowDrip':
        return misbehave.slowDrip(res, answer, action.bytes, action.intervalMs, this.#clock, signal);
      case 'truncate':
        return misbehave.truncate(res, answer, action.afterBytes);
      case 'malformed':
        return send(res, misbehave.malformed(answer));
      case 'mislabel':
        return send(res, misbehave.mislabel(answer, action.status, action.contentType));
      case 'deepNesting':
        return send(res, misbehave.deepNesting(answer, action.levels));
      default:
        return send(res, answer);
    }
  }

  /** What IMDS answers, faults aside. */
  async #answer(req: IncomingMessage, url: URL, body: Buffer): Promise<Answer> {
    if (!this.#limiter.tryAcquire()) return error(429, MESSAGES.tooManyRequests);
    if (req.headers['x-forwarded-for'] !== undefined) return error(400, MESSAGES.forwardedFor);
    const metadata = req.headers.metadata;
    if (typeof metadata !== 'string' || metadata.trim().toLowerCase() !== 'true') return error(400, MESSAGES.metadataHeader);
    const names = [...url.searchParams.keys()];
    if (new Set(names).size !== names.length) return error(400, MESSAGES.duplicateParameter);

    const method = req.method ?? 'GET';
    const path = url.pathname.toLowerCase().replace(/\/+$/, '');
    if (path === '/metadata/versions') {
      if (method !== 'GET') return methodNotAllowed('GET');
      return json(200, { apiVersions: [...this.#supportedVersions()].sort() });
    }
    if (path === INSTANCE || path.startsWith(`${INSTANCE}/`)) {
      if (method !== 'GET') return methodNotAllowed('GET');
      return this.#instance(url);
    }
    if (path === '/metadata/scheduledevents') {
      if (method !== 'GET' && method !== 'POST') return methodNotAllowed('GET, POST');
      try {
        await this.#events.called(this.#clock, this.#eventsWarmupMs, this.#closing.signal);
      } catch {
        return error(503, 'emulator closing');
      }
      return this.#scheduledEvents(method, url, body);
    }
    if (path === '/metadata/attested/document') {
      if (method !== 'GET') return methodNotAllowed('GET');
      return this.#attested(url);
    }
    return error(404, MESSAGES.notFound);
  }

  #badVersion(versions: readonly string[]): Answer {
    const newest = [...versions].sort().reverse().slice(0, 3);
    return error(400, MESSAGES.apiVersion, { 'newest-versions': newest });
  }

  #instance(url: URL): Answer {
    const version = url.searchParams.get('api-version');
    const versions = this.#supportedVersions();
    if (version === null || !versions.includes(version)) return this.#badVersion(versions);
    const format = (url.searchParams.get('format') ?? 'json').toLowerCase();
    if (format !== 'json' && format !== 'text') return error(400, MESSAGES.format);

    const document = documentForVersion(this.#fixture.instance, version);
    const found = lookup(document, segmentsOf(url.pathname.slice(INSTANCE.length)));
    if (!found.found) return error(404, MESSAGES.notFound);
    if (isLeaf(found.value)) return format === 'text' ? text(200, leafText(found.value)) : error(400, MESSAGES.jsonOnLeaf);
    return format === 'text' ? text(200, childListing(found.value as object)) : json(200, found.value);
  }

  #scheduledEvents(method: string, url: URL, body: Buffer): Answer {
    const version = url.searchParams.get('api-version');
    if (version === null || !SCHEDULED_EVENTS_API_VERSIONS.includes(version)) return this.#badVersion(SCHEDULED_EVENTS_API_VERSIONS);
    if (method === 'GET') return json(200, this.#events.document());
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return error(400, MESSAGES.startRequests);
    }
    const parsed = startRequestsSchema.safeParse(request);
    if (!parsed.success) return error(400, MESSAGES.startRequests);
    this.#events.approve(parsed.data.StartRequests.map((r) => r.EventId));
    return empty(200);
  }

  async #attested(url: URL): Promise<Answer> {
    const version = url.searchParams.get('api-version');
    const versions = this.#supportedVersions().filter((v) => available(ATTESTED_SINCE, v));
    if (version === null || !versions.includes(version)) return this.#badVersion(versions);
    const now = this.#clock.now();
    const nonce = url.searchParams.get('nonce') ?? defaultNonce(now);
    if (!NONCE.test(nonce)) return error(400, MESSAGES.nonce);
    const compute = this.#fixture.instance.compute;
    const payload = attestedPayload(typeof compute === 'object' && compute !== null ? (compute as Record<string, unknown>) : {}, nonce, now, version);
    this.#signer ??= createSigner({ now });
    const signature = (await this.#signer).signedData(Buffer.from(JSON.stringify(payload), 'utf8'));
    return json(200, { encoding: 'pkcs7', signature: signature.toString('base64') });
  }
}

/** The request body, or undefined when it is larger than MAX_BODY. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Aborts when the client goes away before the answer is complete, or the emulator closes. */
function requestSignal(res: ServerResponse, closing: AbortSignal): AbortSignal {
  const gone = new AbortController();
  res.once('close', () => gone.abort(new Error('client gone')));
  return AbortSignal.any([gone.signal, closing]);
}
