/**
 * Test helpers for the IMDS emulator: a raw HTTP client (node:http, one connection per request, no
 * retries, no body parsing) and a manual clock that moves only when the test says so.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterEach } from 'vitest';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../testbed/imds-emulator/server.ts';
import type { Clock } from '../../src/clock.ts';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  bytes: Buffer;
}

/** A failed request, with what arrived before the failure. */
export interface RequestFailure extends Error {
  code?: string;
  /** Present when the status line and headers arrived. */
  partial?: { status: number; headers: IncomingHttpHeaders; bytes: Buffer };
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Gives up with code "ETIMEDOUT" when the whole answer has not arrived by then. Default 10 s. */
  timeoutMs?: number;
  /** Stops reading and fails with code "ETOOBIG" past this many body bytes. */
  maxBytes?: number;
  /** Count body bytes without keeping them (for huge bodies). */
  discardBody?: boolean;
}

/** One request on a fresh connection. Resolves for any status; rejects on a connection failure. */
export function rawRequest(url: string, options: RequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let partial: RequestFailure['partial'];
    let settled = false;
    const fail = (err: RequestFailure, code?: string) => {
      if (settled) return;
      settled = true;
      if (code) err.code = code;
      if (partial) err.partial = partial;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      partial = { status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.alloc(0) };
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!options.discardBody) chunks.push(chunk);
        partial!.bytes = options.discardBody ? Buffer.alloc(0) : Buffer.concat(chunks);
        if (options.maxBytes !== undefined && received > options.maxBytes) fail(new Error(`body over ${options.maxBytes} bytes`), 'ETOOBIG');
      });
      res.on('error', (err) => fail(err));
      res.on('close', () => {
        if (!res.complete) return fail(new Error('connection closed before the body was complete'), 'EPREMATURE');
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes: options.discardBody ? Buffer.alloc(received) : bytes });
      });
    });
    const timer = setTimeout(() => fail(new Error(`no complete answer within ${options.timeoutMs ?? 10_000} ms`), 'ETIMEDOUT'), options.timeoutMs ?? 10_000);
    req.on('error', (err) => fail(err));
    req.end(options.body);
  });
}

/** An IMDS request: the Metadata header is set unless the test overrides the headers. */
export function imds(baseUrl: string, pathAndQuery: string, options: RequestOptions = {}): Promise<RawResponse> {
  return rawRequest(baseUrl + pathAndQuery, { ...options, headers: options.headers ?? { Metadata: 'true' } });
}

/** Expects a request to fail; returns the failure. */
export async function requestFailure(promise: Promise<unknown>): Promise<RequestFailure> {
  try {
    await promise;
  } catch (err) {
    return err as RequestFailure;
  }
  throw new Error('expected the request to fail, but it succeeded');
}

/**
 * A clock that moves only on advance(). Sleepers wake when the clock passes their time; every
 * requested sleep is recorded. waitForSleepers(n) resolves once n sleeps are pending.
 */
export class ManualClock implements Clock {
  #now: number;
  #sleepers: { wake: number; resolve: () => void }[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];
  /** Every duration passed to sleep(), in order. */
  readonly sleeps: number[] = [];

  constructor(start = Date.UTC(2025, 0, 15, 12, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const sleeper = {
        wake: this.#now + ms,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#sleepers.push(sleeper);
      this.#notify();
    });
  }

  get pendingSleeps(): number {
    return this.#sleepers.length;
  }

  /** Resolves once at least `count` sleeps are pending. */
  waitForSleepers(count = 1): Promise<void> {
    return new Promise((resolve) => {
      this.#waiters.push({ count, resolve });
      this.#notify();
    });
  }

  advance(ms: number): void {
    this.#now += ms;
    const due = this.#sleepers.filter((s) => s.wake <= this.#now);
    this.#sleepers = this.#sleepers.filter((s) => s.wake > this.#now);
    for (const s of due) s.resolve();
  }

  #notify() {
    const ready = this.#waiters.filter((w) => this.#sleepers.length >= w.count);
    this.#waiters = this.#waiters.filter((w) => this.#sleepers.length < w.count);
    for (const w of ready) w.resolve();
  }
}

/**
 * Registers an afterEach that closes every emulator the returned factory started: frozen time
 * and no throttling unless the options say otherwise.
 */
export function emulatorPerTest(): (options?: EmulatorOptions) => Promise<Emulator> {
  const started: Emulator[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((e) => e.close()));
  });
  return async (options = {}) => {
    const e = await startEmulator({ clock: new ManualClock(), rateLimitPerSecond: 0, ...options });
    started.push(e);
    return e;
  };
}
