import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';

/**
 * The agent's HTTP to the API server: node:http and node:https, which the agent loads anyway for
 * IMDS and /metrics. (undici, which client-node's generated API uses, costs 12 to 25 MiB and
 * 100 to 250 ms at start-up: more than the rest of the agent together; docs/performance.md.)
 *
 * Connections are kept alive (TCP keep-alive after 30 s, as client-go does; idle sockets closed
 * after 4 s), one pool per set of TLS settings, so a rotated client certificate gets a new pool.
 */

/** TLS material as KubeConfig.applyToHTTPSOptions leaves it on the request options. */
export interface TlsSettings {
  ca?: string | Buffer | (string | Buffer)[] | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  pfx?: string | Buffer | undefined;
  passphrase?: string | undefined;
  rejectUnauthorized?: boolean | undefined;
  servername?: string | undefined;
}

const KEEPALIVE_MS = 30_000;
const IDLE_SOCKET_MS = 4_000;
/** Different TLS settings kept alive at once (a rotated client certificate adds one). */
const MAX_POOLS = 4;

const pools = new Map<string, http.Agent>();

/** The keep-alive pool for a protocol and TLS settings; `proxy` builds an agent for a proxy-url instead. */
export function pool(protocol: string, tls: TlsSettings, proxy?: (options: https.AgentOptions) => http.Agent): http.Agent {
  const key = `${protocol}${proxy ? 'proxy' : ''}${settingsKey(tls)}`;
  let agent = pools.get(key);
  if (agent) {
    // Most recently used last, so the oldest is the one to drop.
    pools.delete(key);
    pools.set(key, agent);
    return agent;
  }
  const options: https.AgentOptions = { keepAlive: true, keepAliveMsecs: KEEPALIVE_MS, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' };
  if (protocol === 'https:') Object.assign(options, definedOnly(tls));
  agent = proxy ? proxy(options) : protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  pools.set(key, agent);
  if (pools.size > MAX_POOLS) {
    // Forget the oldest pool; its sockets close when idle, requests in flight finish.
    const [oldest] = pools.keys();
    pools.get(oldest!)?.destroy();
    pools.delete(oldest!);
  }
  return agent;
}

function definedOnly(tls: TlsSettings): https.AgentOptions {
  return Object.fromEntries(Object.entries(tls).filter(([k, v]) => v !== undefined && ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'].includes(k)));
}

function settingsKey(c: TlsSettings): string {
  const text = (v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('base64') : Array.isArray(v) ? v.map(text) : v);
  return JSON.stringify([text(c.ca), text(c.cert), text(c.key), text(c.pfx), c.passphrase, c.rejectUnauthorized, c.servername]);
}

export interface SendOptions {
  method: string;
  headers: Record<string, string>;
  agent: http.Agent;
  body?: string;
  signal?: AbortSignal | undefined;
  /** Socket silence that fails the request (headers, and between body chunks). */
  idleTimeoutMs: number;
  /** Basic auth, `user:password`. */
  auth?: string | undefined;
}

/** The connection went silent for longer than `idleTimeoutMs`. */
export class TransportTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`no answer from the API server for ${Math.round(ms / 1000)}s`);
    this.name = 'TransportTimeoutError';
  }
}

/** Sends one request; resolves with the response once its headers arrive. Rejects with the socket error, or the signal's reason. */
export function send(url: URL, o: SendOptions): Promise<http.IncomingMessage> {
  if (o.signal?.aborted) return Promise.reject(o.signal.reason as Error);
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    let settled = false;
    const req = request(url, { method: o.method, headers: o.headers, agent: o.agent, ...(o.auth ? { auth: o.auth } : {}) });
    const onAbort = () => {
      const reason = o.signal!.reason as unknown;
      const error = reason instanceof Error ? reason : new Error(String(reason));
      if (!settled) {
        settled = true;
        reject(error);
      }
      req.destroy(error);
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => o.signal?.removeEventListener('abort', onAbort);
    req.setTimeout(o.idleTimeoutMs, () => req.destroy(new TransportTimeoutError(o.idleTimeoutMs)));
    req.on('error', (err) => {
      done();
      if (settled) return;
      settled = true;
      reject(err);
    });
    req.on('response', (res) => {
      settled = true;
      res.once('close', done);
      resolve(res);
    });
    req.end(o.body);
  });
}

/** The body as text, at most `limit` bytes (a Node list is a few KiB; a proxy's error page is not worth more). */
export async function readText(res: http.IncomingMessage, limit = 64 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Calls `onLine` for each line of a streamed body (a watch: one JSON event per line); resolves
 * when the body ends, rejects when the connection breaks.
 */
export function readLines(res: http.IncomingMessage, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let rest = '';
    res.on('data', (chunk: Buffer) => {
      rest += decoder.write(chunk);
      for (let i = rest.indexOf('\n'); i !== -1; i = rest.indexOf('\n')) {
        const line = rest.slice(0, i).trim();
        rest = rest.slice(i + 1);
        if (line) onLine(line);
      }
    });
    res.once('end', () => {
      const line = (rest + decoder.end()).trim();
      if (line) onLine(line);
      resolve();
    });
    res.once('error', reject);
    res.once('aborted', () => reject(Object.assign(new Error('the watch connection was cut'), { code: 'ECONNRESET' })));
    res.once('close', () => {
      if (!res.complete) reject(Object.assign(new Error('the watch connection was cut'), { code: 'ECONNRESET' }));
    });
  });
}
