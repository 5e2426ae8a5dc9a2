import type { Readable, Writable } from 'node:stream';
import { ConfigError, FlagError } from '../config/load.ts';

export interface CommandIO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGTERM, SIGINT and SIGHUP: long-running commands stop cleanly and resolve. */
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
  /** Print the command's usage after the message (a flag it does not know or a misused one). */
  readonly showUsage: boolean;
  constructor(message: string, options: { showUsage?: boolean } = {}) {
    super(message);
    this.name = 'UsageError';
    this.showUsage = options.showUsage ?? false;
  }
}

/**
 * A failure at start-up that the operator can act on, such as a port already in use: the entry
 * point prints its one-line message, without a stack, and exits with its code.
 */
export class StartupError extends Error {
  readonly kind = 'startup';
  readonly exitCode: 1 | 2;
  constructor(message: string, exitCode: 1 | 2, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
    this.exitCode = exitCode;
  }
}

export const isUserError = (err: unknown): err is Error => err instanceof ConfigError || err instanceof UsageError;

/** Errors answered with the command's usage as well as the message. */
export const wantsUsage = (err: unknown): boolean => err instanceof FlagError || (err instanceof UsageError && err.showUsage);
