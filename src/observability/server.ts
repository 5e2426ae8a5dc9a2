import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthStatus {
  ok: boolean;
  /** Why the agent is unhealthy; the body of the 503. */
  reason?: string;
}

/** The server could not listen: the address is taken, not on this host, or not allowed. */
export class ListenError extends Error {
  readonly kind = 'listen';
  /** The errno code, such as EADDRINUSE or EADDRNOTAVAIL. */
  readonly code: string;
  readonly address: string;
  readonly port: number;
  constructor(address: string, port: number, cause: NodeJS.ErrnoException) {
    super(`cannot listen on ${hostForUrl(address)}:${port}: ${cause.code ?? cause.message}`, { cause });
    this.name = 'ListenError';
    this.code = cause.code ?? 'unknown';
    this.address = address;
    this.port = port;
  }
}

export interface ObservabilityServerOptions {
  /** 0 picks a free port; the bound one is in the result. */
  port: number;
  address: string;
  registry: Registry;
  /** Liveness: false makes /healthz and /livez answer 503 and the kubelet restart the container. */
  health: () => HealthStatus;
  /** Readiness: not ok makes /readyz answer 503, with the reason as the body. */
  ready: () => HealthStatus;
}

export interface ObservabilityServer {
  port: number;
  /** Base URL a local client can reach (a wildcard address is replaced by loopback). */
  url: string;
  /** Stops listening and drops idle keep-alive connections (a scraper's). */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

/**
 * The agent's HTTP endpoints: /metrics (Prometheus text format from the registry), /healthz (also
 * as /livez) and /readyz. Answers GET and HEAD; anything else on a known path is 405, unknown paths are 404.
 * Health and readiness callbacks that throw count as unhealthy and not ready; a failing check's
 * reason is the body of its 503.
 */
export function startObservabilityServer(options: ObservabilityServerOptions): Promise<ObservabilityServer> {
  const { registry } = options;

  const live = (res: ServerResponse) => probe(res, options.health, 'unhealthy', 'health check failed');
  const routes: Record<string, (res: ServerResponse) => Promise<void> | void> = {
    '/metrics': async (res) => {
      let body: string;
      try {
        body = await registry.metrics();
      } catch (err) {
        send(res, 500, TEXT, `collecting metrics failed: ${message(err)}\n`);
        return;
      }
      send(res, 200, registry.contentType, body);
    },
    // /livez is the name Kubernetes components use; /healthz stays for probes already written.
    '/healthz': live,
    '/livez': live,
    '/readyz': (res) => probe(res, options.ready, 'not ready', 'readiness check failed'),
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (!route) {
      send(res, 404, TEXT, 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, TEXT, 'method not allowed\n');
      return;
    }
    Promise.resolve(route(res)).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, TEXT, `${message(err)}\n`);
      else res.destroy();
    });
  });

  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(options.address, options.port, err));
    server.once('error', onError);
    server.listen(options.port, options.address, () => {
      server.off('error', onError);
      const { port } = server.address() as AddressInfo;
      resolve({
        port,
        url: `http://${hostForUrl(options.address)}:${port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** 200 "ok" or 503 with the reason; a check that throws counts as failing. */
function probe(res: ServerResponse, check: () => HealthStatus, fallback: string, thrown: string): void {
  let status: HealthStatus;
  try {
    status = check();
  } catch (err) {
    status = { ok: false, reason: `${thrown}: ${message(err)}` };
  }
  if (status.ok) send(res, 200, TEXT, 'ok\n');
  else send(res, 503, TEXT, `${status.reason || fallback}\n`);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  // HEAD gets the headers, including the length, without the body.
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

function hostForUrl(address: string): string {
  if (address === '' || address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
