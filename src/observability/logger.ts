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
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const destination = options.format === 'pretty' ? prettyStream(options.destination ?? process.stderr) : options.destination;
  return destination ? pino(settings, destination) : pino(settings);
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
