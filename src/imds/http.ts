import http from 'node:http';
import { ImdsError, abortedError, type ImdsEndpoint } from './imdsError.ts';

/**
 * One bounded HTTP GET over node:http, nothing more: no retries, no redirects, no proxy.
 *
 * - The caller's own http.Agent is always used, never the global one, so HTTP_PROXY,
 *   HTTPS_PROXY, NO_PROXY, NODE_USE_ENV_PROXY and http.setGlobalProxyFromEnv() cannot route
 *   IMDS traffic through a proxy (IMDS only answers the VM itself).
 * - Redirects are returned as responses (node:http never follows them); the caller turns them
 *   into errors.
 * - Two timeouts: connect (socket up) and total (request sent to last body byte).
 * - The body is streamed and the request destroyed as soon as it passes maxBytes; a
 *   Content-Length over the cap is refused before any body byte is read.
 */

export interface BoundedGetOptions {
  url: URL;
  /** Metric and error label of the endpoint being called. */
  endpoint: ImdsEndpoint;
  headers: Record<string, string>;
  agent: http.Agent;
  connectTimeoutMs: number;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** An Agent that never proxies and keeps no idle sockets between polls. */
export function createDirectAgent(): http.Agent {
  // No proxyEnv: this agent connects straight to the host in the URL whatever the environment says.
  return new http.Agent({ keepAlive: false, maxSockets: 4 });
}

const NETWORK_CODES: Record<string, string> = {
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  ECONNREFUSED: 'refused',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
};

function networkError(endpoint: ImdsEndpoint, url: URL, error: unknown): ImdsError {
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ETIMEDOUT') {
    return new ImdsError({ kind: 'timeout', endpoint, message: `IMDS ${endpoint}: ${url.host} timed out (ETIMEDOUT)`, cause: error });
  }
  const code = (errno && NETWORK_CODES[errno]) ?? 'network';
  const reason = error instanceof Error ? error.message : String(error);
  return new ImdsError({ kind: 'network', endpoint, code, message: `IMDS ${endpoint}: ${url.host}: ${reason}`, cause: error });
}

function tooLarge(endpoint: ImdsEndpoint, status: number, maxBytes: number, seen: string): ImdsError {
  return new ImdsError({
    kind: 'too-large',
    endpoint,
    status,
    code: 'too_large',
    message: `IMDS ${endpoint}: response body ${seen} exceeds the ${maxBytes}-byte cap`,
  });
}

export function boundedGet(options: BoundedGetOptions): Promise<RawResponse> {
  const { url, endpoint, signal, maxBytes } = options;
  return new Promise<RawResponse>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(endpoint, signal));
      return;
    }
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let totalTimer: NodeJS.Timeout | undefined = undefined;

    const cleanup = () => {
      clearTimeout(totalTimer);
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: ImdsError) => {
      if (settled) return;
      settled = true;
      cleanup();
      req.destroy();
      reject(error);
    };
    const onAbort = () => fail(abortedError(endpoint, signal));

    const req = http.request(url, {
      method: 'GET',
      agent: options.agent,
      headers: options.headers,
    });

    totalTimer = setTimeout(
      () =>
        fail(
          new ImdsError({
            kind: 'timeout',
            endpoint,
            message: `IMDS ${endpoint}: no complete answer from ${url.host} within ${options.timeoutMs} ms`,
          }),
        ),
      options.timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });

    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      connectTimer = setTimeout(
        () =>
          fail(
            new ImdsError({
              kind: 'timeout',
              endpoint,
              code: 'connect_timeout',
              message: `IMDS ${endpoint}: could not connect to ${url.host} within ${options.connectTimeoutMs} ms`,
            }),
          ),
        options.connectTimeoutMs,
      );
      socket.once('connect', () => clearTimeout(connectTimer));
    });

    req.on('error', (error) => fail(networkError(endpoint, url, error)));

    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const declared = res.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBytes) {
        fail(tooLarge(endpoint, status, maxBytes, `of ${declared} bytes (Content-Length)`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > maxBytes) {
          fail(tooLarge(endpoint, status, maxBytes, `of more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks, size) });
      });
      res.on('error', (error) => fail(networkError(endpoint, url, error)));
      res.on('close', () => {
        if (!res.complete) fail(networkError(endpoint, url, Object.assign(new Error('connection closed mid-body'), { code: 'ECONNRESET' })));
      });
    });

    req.end();
  });
}
