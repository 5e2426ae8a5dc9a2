import { Writable } from 'node:stream';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty';
  destination?: DestinationStream;
}

/**
 * JSON lines on stdout, one object per line with `level` (a name), `time` (ISO 8601) and `msg`.
 * `pretty` writes readable lines instead, to stderr unless a destination is given, so a
 * command's own output on stdout stays clean. Tokens never reach a log line: the agent does not
 * log request headers, and these paths are redacted in case a library error object carries them.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    base: undefined,
    redact: { paths: ['authorization', 'token', '*.authorization', '*.token', '*.headers.authorization'], censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
    serializers: { err: serializeError, error: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const destination = options.format === 'pretty' ? prettyStream(options.destination ?? process.stderr) : options.destination;
  return destination ? pino(settings, destination) : pino(settings);
}

/** Fields of the agent's error classes (kind, status, field, ...) worth a log line; never headers or bodies. */
const ERROR_FIELDS = ['kind', 'code', 'status', 'field', 'endpoint', 'attempts', 'reason'] as const;

/**
 * `err` and `error` fields as `{type, message, ...}`: the class name (ConfigError, KubeError,
 * TypeError) and the message, plus the known fields of the agent's error classes and the cause.
 * pino's own serializer calls anything with a string `message` an error and labels a plain object
 * `"type":"Object","stack":""`; a plain object is kept as the caller wrote it instead. Stacks are
 * kept for programming errors only, where they are what a bug report needs.
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!(value instanceof Error)) {
    if (value === null || typeof value !== 'object') return value === undefined ? value : { message: String(value) };
    return value;
  }
  const e = value as Error & Partial<Record<(typeof ERROR_FIELDS)[number], unknown>>;
  const type = e.name && e.name !== 'Error' ? e.name : e.constructor.name;
  const out: Record<string, unknown> = { type, message: e.message };
  for (const key of ERROR_FIELDS) {
    const field = e[key];
    if (field !== undefined && (typeof field === 'string' || typeof field === 'number' || typeof field === 'boolean')) out[key] = field;
  }
  if (e.cause !== undefined && depth < 3) out.cause = serializeError(e.cause, depth + 1);
  const programming = value instanceof TypeError || value instanceof RangeError || value instanceof ReferenceError || value instanceof SyntaxError;
  if (programming && e.stack) out.stack = e.stack;
  return out;
}

/** A logger that drops everything, for tests and library callers. */
export const silentLogger = (): Logger => pino({ level: 'silent' });

/**
 * Human-readable lines for local runs: "12:00:01 info  message key=value". Objects are JSON;
 * strings with spaces, quotes or line breaks are quoted, so one record stays one line. Kept
 * in-house so the bundle needs no worker-thread transport.
 */
function prettyStream(out: DestinationStream | NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const { time, level, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"]/.test(v) ? v : JSON.stringify(v)}`);
        out.write(`${[String(time).slice(11, 19), String(level).padEnd(5), String(msg ?? '').replace(/\s*\n\s*/g, ' '), ...fields].join(' ')}\n`);
      }
      done();
    },
  });
}
