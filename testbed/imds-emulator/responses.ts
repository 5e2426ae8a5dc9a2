import { STATUS_CODES, type ServerResponse } from 'node:http';

/** An answer built before it is written, so that a fault can send it slowly, cut it or garble it. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';
export const HTML_TYPE = 'text/html; charset=utf-8';

/** IMDS's error texts. Where Azure documents one it is quoted; the others follow its style. */
export const MESSAGES = {
  metadataHeader: 'Bad request. Required metadata header not specified',
  forwardedFor: 'Bad request. Requests with the X-Forwarded-For header are not allowed',
  apiVersion: 'Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds',
  duplicateParameter: 'Bad request. A query parameter is specified more than once',
  jsonOnLeaf: 'Bad request. format=json is not supported on a leaf node: ask with format=text',
  format: 'Bad request. Invalid format: use format=json or format=text',
  nonce: 'Bad request. Invalid nonce: 1 to 64 letters, digits, ".", "_" or "-"',
  startRequests: 'Bad request. The body must be {"StartRequests":[{"EventId":"..."}]}',
  notFound: 'Not found',
  methodNotAllowed: 'Method not allowed',
  tooManyRequests: 'Too many requests',
  gone: 'Resource gone. Retry after a while, for up to 70 seconds',
  internal: 'Internal server error. Retry later',
} as const;

export const json = (status: number, value: unknown, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'Content-Type': JSON_TYPE, ...headers },
  body: Buffer.from(JSON.stringify(value), 'utf8'),
});

export const text = (status: number, body: string): Answer => ({ status, headers: { 'Content-Type': TEXT_TYPE }, body: Buffer.from(body, 'utf8') });

export const empty = (status: number): Answer => ({ status, headers: {}, body: Buffer.alloc(0) });

export const error = (status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Answer =>
  json(status, { error: message, ...extra }, headers);

export const methodNotAllowed = (allow: string): Answer => error(405, MESSAGES.methodNotAllowed, {}, { Allow: allow });

/** The body a status fault answers with. */
export function statusAnswer(status: number, retryAfter: number | undefined): Answer {
  const message =
    status === 429 ? MESSAGES.tooManyRequests
    : status === 410 ? MESSAGES.gone
    : status === 500 ? MESSAGES.internal
    : status === 404 ? MESSAGES.notFound
    : status === 405 ? MESSAGES.methodNotAllowed
    : (STATUS_CODES[status] ?? `HTTP ${status}`);
  return error(status, message, {}, retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) });
}

/** What a proxy or a captive portal sends instead of IMDS's JSON. */
export function htmlAnswer(status: number): Answer {
  const title = `${status} ${STATUS_CODES[status] ?? ''}`.trim();
  const page = `<!DOCTYPE html>\n<html><head><title>${title}</title></head>\n<body><h1>${title}</h1><p>The proxy server could not handle the request.</p><hr><address>proxy</address></body></html>\n`;
  return { status, headers: { 'Content-Type': HTML_TYPE }, body: Buffer.from(page, 'utf8') };
}

export function send(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(answer.body.length) });
  res.end(answer.body);
}
