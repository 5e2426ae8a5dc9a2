import { describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/observability/logger.ts';

/** A logger writing into an array of lines. */
function capture(format: 'json' | 'pretty', level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  let buffered = '';
  const destination = {
    write(chunk: string) {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
      return true;
    },
  };
  return { logger: createLogger({ level, format, destination }), lines };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('logger: JSON lines (the default format)', () => {
  it('writes one JSON object per line: level name, ISO time, msg, fields; no pid or hostname', () => {
    const { logger, lines } = capture('json');
    logger.info({ node: 'aks-0', changes: { labels: { added: ['imds-labeler.io/zone'], changed: [], removed: [] } } }, 'applied label changes');
    logger.warn({ err: { kind: 'http', endpoint: 'instance', status: 500, attempts: 3 } }, 'IMDS poll failed; labels stay as they are');
    expect(lines).toHaveLength(2);
    const [applied, failed] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(applied).toEqual({
      level: 'info',
      time: expect.stringMatching(ISO),
      node: 'aks-0',
      changes: { labels: { added: ['imds-labeler.io/zone'], changed: [], removed: [] } },
      msg: 'applied label changes',
    });
    expect(failed).toMatchObject({ level: 'warn', err: { kind: 'http', endpoint: 'instance', status: 500, attempts: 3 } });
  });

  it('drops lines below the level', () => {
    const { logger, lines } = capture('json', 'warn');
    logger.info('not shown');
    logger.debug('not shown either');
    logger.error('shown');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
  });

  it('redacts tokens and authorization headers, top level and one level down', () => {
    const { logger, lines } = capture('json');
    logger.error({ token: 'secret-1', authorization: 'Bearer secret-2', err: { headers: { authorization: 'Bearer secret-3' } }, request: { token: 'secret-4' } }, 'request failed');
    expect(lines[0]).not.toMatch(/secret-/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ token: '[redacted]', authorization: '[redacted]', err: { headers: { authorization: '[redacted]' } }, request: { token: '[redacted]' } });
  });
});

describe('logger: pretty', () => {
  it('writes "HH:MM:SS level message key=value" lines, objects as JSON', () => {
    const { logger, lines } = capture('pretty');
    logger.info({ node: 'aks-0', port: 9721, dryRun: false }, 'imds-labeler agent started');
    logger.warn({ err: { kind: 'http', status: 500 }, attempt: 2 }, 'node patch failed; retrying');
    expect(lines).toEqual([
      expect.stringMatching(/^\d{2}:\d{2}:\d{2} info  imds-labeler agent started node=aks-0 port=9721 dryRun=false$/),
      expect.stringMatching(/^\d{2}:\d{2}:\d{2} warn  node patch failed; retrying err=\{"kind":"http","status":500\} attempt=2$/),
    ]);
  });

  it('keeps one record on one line: strings with spaces, quotes or line breaks are quoted', () => {
    const { logger, lines } = capture('pretty');
    logger.error({ reason: 'two\nlines', path: 'a b', plain: 'x' }, 'first\nsecond');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{2}:\d{2}:\d{2} error first second reason="two\\nlines" path="a b" plain=x$/);
  });
});

describe('logger: errors', () => {
  class KindError extends Error {
    readonly kind = 'http';
    readonly status = 503;
    readonly headers = { authorization: 'Bearer secret-9' };
    constructor(message: string, options?: ErrorOptions) {
      super(message, options);
      this.name = 'KindError';
    }
  }
  class Unnamed extends Error {}

  it.each([
    ['an error class with a name and fields', new KindError('IMDS answered 503'), { type: 'KindError', message: 'IMDS answered 503', kind: 'http', status: 503 }],
    ['a subclass that keeps the name Error', new Unnamed('x'), { type: 'Unnamed', message: 'x' }],
    ['a cause', new KindError('poll failed', { cause: new Unnamed('socket hang up') }), { type: 'KindError', message: 'poll failed', kind: 'http', status: 503, cause: { type: 'Unnamed', message: 'socket hang up' } }],
    ['a plain object, kept as written', { kind: 'gone', message: 'watch expired' }, { kind: 'gone', message: 'watch expired' }],
    ['a string', 'boom', { message: 'boom' }],
  ])('%s', (_name, err, expected) => {
    for (const key of ['err', 'error']) {
      const { logger, lines } = capture('json');
      logger.warn({ [key]: err }, 'failed');
      const logged = (JSON.parse(lines[0]!) as Record<string, unknown>)[key];
      expect(logged).toEqual(expected);
      expect(lines[0]).not.toContain('"type":"Object"');
      expect(lines[0]).not.toContain('secret-9');
    }
  });

  it('keeps the stack of a programming error, and only then', () => {
    const { logger, lines } = capture('json');
    logger.error({ err: new TypeError('x is not a function') }, 'bug');
    logger.error({ err: new KindError('503') }, 'outage');
    const [bug, outage] = lines.map((l) => (JSON.parse(l) as { err: Record<string, unknown> }).err);
    expect(bug).toMatchObject({ type: 'TypeError', message: 'x is not a function', stack: expect.stringContaining('TypeError: x is not a function') });
    expect(outage).not.toHaveProperty('stack');
  });
});
