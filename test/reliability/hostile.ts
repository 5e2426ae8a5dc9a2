import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Hostile local servers for the security scenarios: each records what reached it, so a test can
 * assert that the agent never sent it anything (a proxy, a redirect target) or that it hung up
 * early (an endless body).
 */

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface HostileServer {
  url: string;
  port: number;
  host: string;
  requests: Recorded[];
  /** TCP connections accepted, whatever came over them (a CONNECT tunnel, garbage). */
  connections: () => number;
  close(): Promise<void>;
}

export async function startHostile(handler: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<HostileServer> {
  const requests: Recorded[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // A proxy is asked to CONNECT for https:// targets: record it, refuse it.
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    requests.push({ method: 'CONNECT', url: req.url ?? '', headers: req.headers });
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    host,
    requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers everything with this JSON document. */
export const serveJson = (body: () => unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body()));
};

export interface EndlessServer extends HostileServer {
  /** Bytes the server managed to hand to the kernel, per connection, once that connection closed. */
  bytesPerResponse: number[];
  /** Responses still streaming. */
  open: () => number;
}

/**
 * A server that answers 200 and streams JSON-looking data forever (chunked, no Content-Length),
 * respecting backpressure: it can only send what the client reads (plus socket buffers). It
 * counts the bytes of each response until the client hangs up.
 */
export async function startEndless(): Promise<EndlessServer> {
  const bytesPerResponse: number[] = [];
  let open = 0;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const head = Buffer.from('{"compute":{"padding":"');
  const server = await startHostile((req, res) => {
    open++;
    let sent = 0;
    let closed = false;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const pump = () => {
      while (!closed) {
        const data = sent === 0 ? head : chunk;
        sent += data.length;
        if (!res.write(data)) return void res.once('drain', pump);
      }
    };
    res.on('close', () => {
      closed = true;
      open--;
      bytesPerResponse.push(sent);
    });
    pump();
  });
  return Object.assign(server, { bytesPerResponse, open: () => open });
}
