import { once } from 'node:events';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { describeFlagError } from '../config/options.ts';
import { UsageError } from './command.ts';
import { parseDuration } from '../config/duration.ts';

/** Strict parseArgs for a subcommand's own flags; bad input becomes a UsageError (exit 2). */
export function parseFlags<T extends ParseArgsOptionsConfig>(argv: string[], options: T) {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  try {
    return parseArgs({ args: argv, options: all, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(describeFlagError(err, Object.keys(all)), { showUsage: true });
  }
}

export function wholeNumberFlag(flag: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim()) || Number(value) > max) throw new UsageError(`${flag}: expected a whole number from 0 to ${max}, got "${value}"`);
  return Number(value);
}

export function hostFlag(value: string | undefined): string {
  const host = value ?? '127.0.0.1';
  if (host.trim() === '') throw new UsageError('--host: expected an address such as 127.0.0.1');
  return host;
}

/** A listen failure the user can fix (port taken, no permission) as a UsageError; others rethrown. */
export function listenError(err: unknown, host: string, port: number): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new UsageError(`cannot listen on ${host}:${port}: ${code}`);
  throw err;
}

/** Serves until the command's signal aborts (SIGTERM or SIGINT). */
export async function untilAborted(signal: AbortSignal): Promise<void> {
  if (!signal.aborted) await once(signal, 'abort');
}

/** A Go-style duration flag ("2m", "500ms") in milliseconds. */
export function durationFlag(flag: string, value: string | undefined, fallbackMs = 0): number {
  if (value === undefined) return fallbackMs;
  const ms = parseDuration(value);
  if (ms === undefined) throw new UsageError(`${flag}: "${value}" is not a duration such as 500ms, 60s, 5m or 1h`);
  return ms;
}
