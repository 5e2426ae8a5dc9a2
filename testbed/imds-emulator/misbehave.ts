import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../src/clock.ts';
import { JSON_TYPE, type Answer } from './responses.ts';

/**
 * Faults that act on the connection rather than on the status: what a client sees when IMDS, or
 * something between it and IMDS, misbehaves. Every loop stops when `signal` aborts (the client
 * went away or the emulator is closing).
 */

/** Destroys the connection with a TCP reset: the client sees ECONNRESET. */
export function reset(req: IncomingMessage): void {
  req.socket.resetAndDestroy();
}

/** Sends the headers and the body `bytes` at a time, one chunk per `intervalMs` of the clock. */
export async function slowDrip(res: ServerResponse, answer: Answer, bytes: number, intervalMs: number, clock: Clock, signal: AbortSignal): Promise<void> {
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(answer.body.length) });
  res.flushHeaders();
  try {
    for (let at = 0; at < answer.body.length; at += bytes) {
      if (at > 0) await clock.sleep(intervalMs, signal);
      res.write(answer.body.subarray(at, at + bytes));
    }
    res.end();
  } catch {
    res.destroy();
  }
}

/**
 * Declares the whole body's Content-Length, sends `afterBytes` of it (default: half), then closes
 * the connection: the client sees a premature end of the body.
 */
export function truncate(res: ServerResponse, answer: Answer, afterBytes: number | undefined): void {
  const declared = Math.max(answer.body.length, 1);
  const sent = Math.min(afterBytes ?? Math.floor(answer.body.length / 2), declared - 1);
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(declared) });
  if (sent > 0) res.write(answer.body.subarray(0, sent));
  else res.flushHeaders();
  res.socket?.end();
}

/** 200 with the first half of the body: invalid JSON under a JSON content type. */
export function malformed(answer: Answer): Answer {
  return { status: 200, headers: { 'Content-Type': JSON_TYPE }, body: answer.body.subarray(0, Math.floor(answer.body.length / 2)) };
}

/** The same body under another status and/or content type. */
export function mislabel(answer: Answer, status: number | undefined, contentType: string | undefined): Answer {
  return { status: status ?? answer.status, headers: { ...answer.headers, ...(contentType ? { 'Content-Type': contentType } : {}) }, body: answer.body };
}

/**
 * The normal answer with one more field in its first object, `"nested"`, holding `levels` arrays
 * one inside the other: small (2 bytes a level) but deeper than any instance document, the shape
 * that overflows a parser or a key walk that recurses without a bound. Answers that are not a
 * JSON object are sent as they are.
 */
export function deepNesting(answer: Answer, levels: number): Answer {
  const text = answer.body.toString('utf8');
  const open = text.indexOf('{');
  if (answer.status !== 200 || open < 0) return answer;
  const rest = text.slice(open + 1).trimStart();
  const nested = `"nested":${'['.repeat(levels)}${']'.repeat(levels)}${rest.startsWith('}') ? '' : ','}`;
  return { ...answer, body: Buffer.from(`${text.slice(0, open + 1)}${nested}${rest}`) };
}

const HUGE_HEAD = Buffer.from('{"compute":{"padding":"');
const HUGE_TAIL = Buffer.from('"}}');
const CHUNK = 64 * 1024;

/**
 * 200 with a valid JSON document of `total` bytes, streamed in 64 KiB chunks as the client reads
 * them: memory stays flat whatever the size.
 */
export async function hugeBody(res: ServerResponse, total: number, signal: AbortSignal): Promise<void> {
  const fill = Math.max(0, total - HUGE_HEAD.length - HUGE_TAIL.length);
  res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': String(HUGE_HEAD.length + fill + HUGE_TAIL.length) });
  const chunk = Buffer.alloc(Math.min(CHUNK, Math.max(fill, 1)), 'x');
  const write = async (data: Buffer) => {
    signal.throwIfAborted();
    if (!res.write(data)) await once(res, 'drain', { signal });
  };
  try {
    await write(HUGE_HEAD);
    for (let left = fill; left > 0; left -= chunk.length) await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
    await write(HUGE_TAIL);
    res.end();
  } catch {
    res.destroy();
  }
}
