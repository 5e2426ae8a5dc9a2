import type { Readable, Writable } from 'node:stream';
import { ConfigError } from '../config/load.ts';

export interface CommandIO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGTERM/SIGINT: long-running commands stop cleanly and resolve. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  /** Full --help text. */
  usage: string;
  /** Resolves to the process exit code. */
  run(argv: string[], io: CommandIO): Promise<number>;
}

/** Thrown for bad command-line input; the entry point prints it and exits 2. */
export class UsageError extends Error {
  readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const isUserError = (err: unknown): err is Error => err instanceof ConfigError || err instanceof UsageError;
