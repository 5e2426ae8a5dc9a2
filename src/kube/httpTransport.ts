import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';

/**
 * The HTTP transport of @kubernetes/client-node in the bundle: the part of undici's API that
 * client-node calls (`fetch`, `Agent`, `ProxyAgent`), over node:http and node:https.
 *
 * Why: undici (and Node's built-in fetch, which is undici too) costs 12 to 25 MiB of memory and
 * 100 to 250 ms at start-up, more than the rest of the agent together, while node:http is loaded
 * anyway for IMDS and /metrics. client-node still builds, authenticates, sends and parses every
 * request; this module only carries the bytes. scripts/build.ts points client-node's `undici`
 * imports here; unbundled runs (`node cmd/imds-labeler.ts`) use undici itself.
 *
 * Behaviour kept from undici: keep-alive connections (TCP keep-alive after 30 s, as client-node
 * asks), idle sockets closed after 4 s, 300 s headers and body timeouts, `TypeError('fetch failed')`
 * with the socket error as `cause`, aborts rejected with the signal's reason. Not kept: response
 * compression (not asked for; the API server compresses only responses over 128 KiB) and
 * redirects (the API server does not redirect). A kubeconfig with a proxy-url, or a SOCKS
 * connector, is handed to undici, loaded on first use.
 */

/** TLS material and keep-alive settings, as client-node passes them in `new Agent({ connect })`. */
export interface ConnectOptions {
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  pfx?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

type Connector = (...args: unknown[]) => unknown;

/** undici's defaults. */
const HEADERS_TIMEOUT_MS = 300_000;
const BODY_TIMEOUT_MS = 300_000;
const IDLE_SOCKET_MS = 4_000;
/** Different TLS settings kept alive at once (a rotated client certificate adds one). */
const MAX_POOLS = 4;

const pools = new Map<string, http.Agent>();

/** One keep-alive pool per protocol and connection settings, shared by every Agent handle with the same settings. */
function pool(protocol: 'http:' | 'https:', connect: ConnectOptions): http.Agent {
  const key = `${protocol}${settingsKey(connect)}`;
  let agent = pools.get(key);
  if (agent) {
    // Most recently used last, so the oldest is the one to drop.
    pools.delete(key);
    pools.set(key, agent);
    return agent;
  }
  const options = {
    keepAlive: true,
    keepAliveMsecs: connect.keepAliveInitialDelay ?? 30_000,
    timeout: IDLE_SOCKET_MS,
    scheduling: 'lifo' as const,
  };
  agent = protocol === 'https:' ? new https.Agent({ ...options, ...tlsOptions(connect) }) : new http.Agent(options);
  pools.set(key, agent);
  if (pools.size > MAX_POOLS) {
    // Forget the oldest pool; its sockets close when idle, requests in flight finish.
    const [oldest] = pools.keys();
    pools.delete(oldest!);
  }
  return agent;
}

function tlsOptions(c: ConnectOptions): https.AgentOptions {
  const o: https.AgentOptions = {};
  if (c.ca !== undefined) o.ca = c.ca;
  if (c.cert !== undefined) o.cert = c.cert;
  if (c.key !== undefined) o.key = c.key;
  if (c.pfx !== undefined) o.pfx = c.pfx;
  if (c.passphrase !== undefined) o.passphrase = c.passphrase;
  if (c.rejectUnauthorized !== undefined) o.rejectUnauthorized = c.rejectUnauthorized;
  if (c.servername !== undefined) o.servername = c.servername;
  return o;
}

function settingsKey(c: ConnectOptions): string {
  const text = (v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(text) : v);
  return JSON.stringify([text(c.ca), text(c.cert), text(c.key), text(c.pfx), c.passphrase, c.rejectUnauthorized, c.servername, c.keepAliveInitialDelay]);
}

/** undici's Agent as client-node uses it: a handle on connection settings. */
export class Agent {
  readonly connect: ConnectOptions | Connector | undefined;
  /** undici's own dispatcher, for a SOCKS connector function. */
  #delegate: unknown;

  constructor(options: { connect?: ConnectOptions | Connector } = {}) {
    this.connect = options.connect;
  }

  /** @internal */
  async delegate(): Promise<unknown> {
    const undici = await import('undici');
    this.#delegate ??= new undici.Agent({ connect: this.connect as never });
    return this.#delegate;
  }
}

/** undici's ProxyAgent: requests through it are sent by undici itself. */
export class ProxyAgent {
  readonly options: Record<string, unknown>;
  #delegate: unknown;

  constructor(options: Record<string, unknown>) {
    this.options = options;
  }

  /** @internal */
  async delegate(): Promise<unknown> {
    const undici = await import('undici');
    this.#delegate ??= new undici.ProxyAgent(this.options as never);
    return this.#delegate;
  }
}

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | null;
  signal?: AbortSignal | null;
  dispatcher?: Agent | ProxyAgent;
}

/** The response headers, with the read side of the Headers API. */
export class ResponseHeaders {
  readonly #raw: http.IncomingHttpHeaders;
  constructor(raw: http.IncomingHttpHeaders) {
    this.#raw = raw;
  }
  get(name: string): string | null {
    const v = this.#raw[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.#raw[name.toLowerCase()] !== undefined;
  }
  forEach(callback: (value: string, name: string) => void): void {
    for (const name of Object.keys(this.#raw).sort()) callback(this.get(name)!, name);
  }
}

/** A response: status and headers at once, the body read once, as text, bytes or a web stream. */
export class TransportResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaders;
  readonly url: string;
  readonly #message: http.IncomingMessage;
  #used = false;

  constructor(message: http.IncomingMessage, url: string) {
    this.#message = message;
    this.status = message.statusCode ?? 0;
    this.statusText = message.statusMessage ?? '';
    this.headers = new ResponseHeaders(message.headers);
    this.url = url;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  /** The body as a web stream. */
  get body(): ReadableStream<Uint8Array> {
    this.#take();
    return Readable.toWeb(this.#message) as ReadableStream<Uint8Array>;
  }

  /**
   * The body as the Node.js stream it is. The bundle's Watch reads this rather than `body`, which
   * it would only turn back into a Node.js stream: web streams cost 12 ms to load and 0.5 MiB.
   */
  get nodeBody(): Readable {
    this.#take();
    return this.#message;
  }


  async buffer(): Promise<Buffer> {
    this.#take();
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.#message) chunks.push(chunk as Buffer);
    } catch (err) {
      throw terminated(err);
    }
    return Buffer.concat(chunks);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.buffer();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return (await this.buffer()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  #take(): void {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
  }
}

/** undici's error for a body cut short. */
function terminated(cause: unknown): TypeError {
  return new TypeError('terminated', { cause });
}

function timeoutError(code: 'UND_ERR_HEADERS_TIMEOUT' | 'UND_ERR_BODY_TIMEOUT', ms: number): Error {
  const what = code === 'UND_ERR_HEADERS_TIMEOUT' ? 'Headers' : 'Body';
  return Object.assign(new Error(`${what} Timeout Error: no ${what.toLowerCase()} within ${ms} ms`), { code });
}

/** fetch() as client-node calls it: string or URL, method, headers, body, signal and dispatcher. */
export async function fetch(input: string | URL, init: FetchInit = {}): Promise<TransportResponse> {
  const dispatcher = init.dispatcher;
  if (dispatcher instanceof ProxyAgent || (dispatcher instanceof Agent && typeof dispatcher.connect === 'function')) {
    const undici = await import('undici');
    return (await undici.fetch(input, { ...(init as object), dispatcher: (await dispatcher.delegate()) as never })) as unknown as TransportResponse;
  }
  const url = typeof input === 'string' ? new URL(input) : input;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${url.protocol}`) });
  const signal = init.signal ?? undefined;
  if (signal?.aborted) throw signal.reason;
  const connect = dispatcher instanceof Agent ? (dispatcher.connect as ConnectOptions | undefined) : undefined;
  const agent = pool(url.protocol, connect ?? {});
  const body = init.body ?? undefined;
  const request = url.protocol === 'https:' ? https.request : http.request;

  return new Promise<TransportResponse>((resolve, reject) => {
    let settled = false;
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent });
    const onAbort = () => {
      const reason = signal!.reason as unknown;
      if (!settled) {
        settled = true;
        reject(reason);
      }
      req.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => signal?.removeEventListener('abort', onAbort);

    // Until the headers arrive: a headers timeout; then a body timeout between chunks.
    req.setTimeout(HEADERS_TIMEOUT_MS, () => req.destroy(timeoutError(settled ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT', settled ? BODY_TIMEOUT_MS : HEADERS_TIMEOUT_MS)));
    req.on('error', (err) => {
      done();
      if (settled) return;
      settled = true;
      reject(new TypeError('fetch failed', { cause: err }));
    });
    req.on('response', (res) => {
      settled = true;
      req.setTimeout(BODY_TIMEOUT_MS);
      res.once('close', done);
      res.on('error', () => undefined);
      resolve(new TransportResponse(res, url.href));
    });
    if (body === undefined) req.end();
    else req.end(body);
  });
}
