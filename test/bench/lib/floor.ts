import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Workspace } from '../../helpers/bundledAgent.ts';
import { NODE, imageNodeOptions } from '../../helpers/bundledAgent.ts';

/**
 * The floor: what any Node.js program that labels a node from IMDS must pay. Plain Node.js with
 * the image's node options and no library: one GET of the IMDS instance document, one merge
 * PATCH of the node over HTTPS (CA file, token file), per poll. The agent's start-up and memory
 * are reported as a ratio to this, measured in the same run on the same machine.
 *
 * At the wire it does what the agent does (src/imds/http.ts, src/kube/httpTransport.ts): a new
 * plain TCP connection for each IMDS GET, and one kept-alive TLS connection to the API server
 * with the agent's pool settings, so the floor pays no handshake per poll that the agent does
 * not pay either.
 */
const FLOOR_SCRIPT = `// imds-labeler benchmark floor (test/bench/lib/floor.ts): GET IMDS, PATCH the node, no libraries.
// Built-ins through require(), as the shipped bundle loads them: an ESM import of node:http reads
// every export, which loads http2, zlib, worker_threads and Node's internal undici.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const http = require('node:http');
const https = require('node:https');
const { readFileSync } = require('node:fs');
const [imds, api, caFile, tokenFile, node, polls, periodMs] = process.argv.slice(2);
const ca = readFileSync(caFile);
const token = readFileSync(tokenFile, 'utf8').trim();
const imdsAgent = new http.Agent({ keepAlive: false });
const apiAgent = new https.Agent({ keepAlive: true, keepAliveMsecs: 30000, timeout: 4000, scheduling: 'lifo', ca });
function send(mod, url, options, body) {
  return new Promise((resolve, reject) => {
    const req = mod.request(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => (res.statusCode < 300 ? resolve(text) : reject(new Error(url + ': ' + res.statusCode + ' ' + text))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
for (let i = 0; Number(polls) === 0 || i < Number(polls); i++) {
  if (i > 0) await new Promise((r) => setTimeout(r, Number(periodMs)));
  const doc = JSON.parse(await send(http, imds + '/metadata/instance?api-version=2021-02-01', { agent: imdsAgent, headers: { Metadata: 'true' } }));
  const c = doc.compute;
  const labels = {
    'imds-labeler.io/fault-domain': c.platformFaultDomain,
    'imds-labeler.io/update-domain': c.platformUpdateDomain,
    'imds-labeler.io/zone': c.zone,
    'imds-labeler.io/vm-size': c.vmSize,
    'imds-labeler.io/region': c.location,
  };
  await send(https, api + '/api/v1/nodes/' + node, {
    method: 'PATCH',
    agent: apiAgent,
    headers: { authorization: 'Bearer ' + token, 'content-type': 'application/merge-patch+json' },
  }, JSON.stringify({ metadata: { labels } }));
}
`;

export interface FloorProcess {
  pid: number;
  spawnedAt: number;
  done: Promise<void>;
  kill(): void;
}

/** Runs the floor program `polls` times (0: until killed), `periodMs` apart, with the image's node options. */
export function startFloor(o: { ws: Workspace; cluster: Cluster; polls?: number; periodMs?: number; node?: string; nodeOptions?: string[] }): FloorProcess {
  const script = join(o.ws.dir, 'floor.mjs');
  writeFileSync(script, FLOOR_SCRIPT);
  const spawnedAt = performance.now();
  const proc = spawn(process.execPath, [...(o.nodeOptions ?? imageNodeOptions(o.ws.distDir)), script, o.cluster.emulator.url, o.cluster.front.url, o.cluster.caFile, o.cluster.tokenFile, o.node ?? NODE, String(o.polls ?? 1), String(o.periodMs ?? 0)], {
    env: { PATH: process.env.PATH, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
  const done = new Promise<void>((resolve, reject) =>
    proc.once('exit', (code, signal) => (code === 0 || signal === 'SIGTERM' ? resolve() : reject(new Error(`floor exited ${code ?? signal}: ${err}`)))),
  );
  return { pid: proc.pid!, spawnedAt, done, kill: () => proc.kill('SIGTERM') };
}

/** Bare Node.js with the image's options, idle: the memory no program can go under. */
export function startBareNode(ws: Workspace): { pid: number; kill(): void; done: Promise<void> } {
  const proc = spawn(process.execPath, [...imageNodeOptions(ws.distDir), '-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { pid: proc.pid!, kill: () => proc.kill('SIGTERM'), done };
}
