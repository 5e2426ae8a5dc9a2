/**
 * `Status` objects exactly as kube-apiserver writes them (k8s.io/apimachinery/pkg/api/errors), and the
 * error type every layer of the sandbox throws to produce one.
 */
import type { JsonObject } from './types.ts';

export type StatusReason =
  | 'NotFound'
  | 'Conflict'
  | 'AlreadyExists'
  | 'Gone'
  | 'Expired'
  | 'TooManyRequests'
  | 'InternalError'
  | 'BadRequest'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'Forbidden'
  | 'Unauthorized'
  | 'Unknown';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** Thrown anywhere below the HTTP layer; the server answers with `status` and `code`. */
export class ApiError extends Error {
  readonly status: Status;
  readonly headers: Record<string, string>;
  constructor(status: Status, headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = 'ApiError';
    this.status = status;
    this.headers = headers;
  }
  get code(): number {
    return this.status.code;
  }
}

export function failure(code: number, reason: StatusReason, message: string, details?: StatusDetails): Status {
  // Field order as apiserver writes it: kind, apiVersion, metadata, status, message, reason, details, code.
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** The group/resource a status names: `nodes`, `events`, `events.events.k8s.io`. */
export interface GroupResource {
  group: string;
  resource: string;
}

const qualified = (gr: GroupResource): string => (gr.group ? `${gr.resource}.${gr.group}` : gr.resource);
const detailsFor = (gr: GroupResource, name: string): StatusDetails => ({ name, ...(gr.group ? { group: gr.group } : {}), kind: gr.resource });

export const notFound = (gr: GroupResource, name: string): ApiError =>
  new ApiError(failure(404, 'NotFound', `${qualified(gr)} "${name}" not found`, detailsFor(gr, name)));

export const alreadyExists = (gr: GroupResource, name: string): ApiError =>
  new ApiError(failure(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, detailsFor(gr, name)));

export const OPTIMISTIC_LOCK_MESSAGE = 'the object has been modified; please apply your changes to the latest version and try again';

export const conflict = (gr: GroupResource, name: string, why: string = OPTIMISTIC_LOCK_MESSAGE): ApiError =>
  new ApiError(failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, detailsFor(gr, name)));

export const expired = (message: string): ApiError => new ApiError(failure(410, 'Expired', message));

export const gone = (message: string): ApiError => new ApiError(failure(410, 'Gone', message));

export const badRequest = (message: string): ApiError => new ApiError(failure(400, 'BadRequest', message));

export const methodNotAllowed = (): ApiError =>
  new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}));

export const pathNotFound = (): ApiError => new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource', {}));

export const unsupportedMediaType = (accepted: readonly string[]): ApiError =>
  new ApiError(failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`, {}));

/** A PATCH of a type it does not know: kube-apiserver 1.37 names neither it nor the known ones. */
export const unsupportedPatchType = (): ApiError => new ApiError(failure(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {}));

export const notAcceptable = (accepted: readonly string[]): ApiError =>
  new ApiError(failure(406, 'NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`, {}));

export const entityTooLarge = (limit: number): ApiError =>
  new ApiError(failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`, {}));

export const tooManyRequests = (retryAfterSeconds: number): ApiError =>
  new ApiError(failure(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds }), {
    'Retry-After': String(retryAfterSeconds),
  });

export const internalError = (message: string): ApiError =>
  new ApiError(failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }));

export const serviceUnavailable = (message = 'service unavailable'): ApiError => new ApiError(failure(503, 'ServiceUnavailable', message, {}));

export const timeoutError = (message = 'the server was unable to return a response in the time allotted, but may still be processing the request'): ApiError =>
  new ApiError(failure(504, 'Timeout', message, {}));

/** 422 for a JSON patch that cannot be applied: kube-apiserver 1.37 says why in no field. */
export const unprocessable = (): ApiError => new ApiError(failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {}));

/** `apiserver` field errors (k8s.io/apimachinery/pkg/util/validation/field). */
export type FieldErrorType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueTooLong'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueDuplicate';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  value?: unknown;
  detail?: string;
}

const quote = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

export function fieldErrorBody(e: FieldError): string {
  switch (e.type) {
    case 'FieldValueInvalid':
      return `Invalid value: ${quote(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueRequired':
      return `Required value${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueTooLong':
      return `Too long: ${e.detail ?? 'value is too long'}`;
    case 'FieldValueNotSupported':
      return `Unsupported value: ${quote(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueForbidden':
      return `Forbidden${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${quote(e.value)}`;
  }
}

/** 422 Invalid, e.g. `Node "n1" is invalid: metadata.labels: Invalid value: "a b": ...`. */
export function invalid(kind: string, group: string, name: string, errors: readonly FieldError[]): ApiError {
  const parts = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const summary = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  const causes = errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field }));
  return new ApiError(
    failure(422, 'Invalid', `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${summary}`, {
      name,
      ...(group ? { group } : {}),
      kind,
      causes,
    }),
  );
}

/** The `Status` a DELETE answers with when the object is gone (resources without ReturnDeletedObject). */
export function deleteSuccess(gr: GroupResource, name: string, uid: string | undefined): JsonObject {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name, ...(gr.group ? { group: gr.group } : {}), kind: gr.resource, ...(uid ? { uid } : {}) },
  };
}

/** A Status for any HTTP code (faults): reason and message as apiserver would pick them. */
export function statusForCode(code: number, gr: GroupResource, name: string | undefined, opts: { retryAfterSeconds?: number; message?: string } = {}): ApiError {
  const n = name ?? '';
  switch (code) {
    case 400:
      return badRequest(opts.message ?? 'the server rejected our request for an unknown reason');
    case 401:
      return new ApiError(failure(401, 'Unauthorized', opts.message ?? 'Unauthorized'));
    case 403:
      return new ApiError(failure(403, 'Forbidden', opts.message ?? `${qualified(gr)}${n ? ` "${n}"` : ''} is forbidden`, detailsFor(gr, n)));
    case 404:
      return notFound(gr, n);
    case 409:
      return conflict(gr, n, opts.message);
    case 410:
      return expired(opts.message ?? 'too old resource version');
    case 422:
      return invalid(gr.resource, gr.group, n, [{ type: 'FieldValueInvalid', field: 'metadata', value: n, detail: opts.message ?? 'injected fault' }]);
    case 429:
      return tooManyRequests(opts.retryAfterSeconds ?? 1);
    case 500:
      return internalError(opts.message ?? 'injected fault');
    case 503:
      return serviceUnavailable(opts.message);
    case 504:
      return timeoutError(opts.message);
    default: {
      const err = new ApiError(failure(code, 'Unknown', opts.message ?? `the server responded with the status code ${code} but did not return more information`, {}));
      if (opts.retryAfterSeconds !== undefined) err.headers['Retry-After'] = String(opts.retryAfterSeconds);
      return err;
    }
  }
}
