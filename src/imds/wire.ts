/**
 * Readers of IMDS answers: small pure functions that check a decoded JSON value's shape and give
 * it its type, collecting every problem with its path. They run at every poll, so they are plain
 * functions rather than a schema library (building and running zod schemas cost the agent's
 * start-up about 10 ms of CPU under --jitless). The messages are those zod gave, so logs and
 * DocumentError issues read the same as before.
 */

export type Path = readonly (string | number)[];

export interface WireIssue {
  path: Path;
  message: string;
}

/** The problems found in one answer, in the order the fields were read. */
export class Issues {
  readonly list: WireIssue[] = [];
  add(path: Path, message: string): undefined {
    this.list.push({ path, message });
    return undefined;
  }
}

/** Reads `value` at `path`: the typed value, or undefined with the problem added to `issues`. */
export type Reader<T> = (value: unknown, path: Path, issues: Issues) => T;

/** A field of an object: read when present; `required` fields are read even when absent. */
export interface Field<T> {
  read: Reader<T>;
  required: boolean;
}

/** A key that may be missing (left out of the result) or undefined. */
export const optional = <T>(read: Reader<T>): Field<T | undefined> => ({ read: (value, path, issues) => (value === undefined ? undefined : read(value, path, issues)), required: false });

/** A key that must be there: read as undefined when missing, which the reader refuses. */
export const required = <T>(read: Reader<T>): Field<T> => ({ read, required: true });

/** What a value is, as the messages name it ("received null", "received array"). */
export function typeName(value: unknown): string {
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? 'number' : String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') {
    const proto: unknown = Object.getPrototypeOf(value);
    const ctor = (value as { constructor?: { name?: unknown } }).constructor;
    if (proto !== Object.prototype && 'constructor' in value && ctor) return String(ctor.name);
  }
  return typeof value;
}

/**
 * What a reader returns for a value it refused. Once an answer has a problem the whole result is
 * refused by its caller, so this stand-in is never read: the one place that pretends it is a T.
 */
const refused = <T>(): T => undefined as T;

/** Adds the problem; returns the refused value's stand-in. */
const refuse = <T>(issues: Issues, path: Path, message: string): T => {
  issues.add(path, message);
  return refused<T>();
};

const invalidType = <T>(issues: Issues, path: Path, expected: string, value: unknown): T => refuse(issues, path, `Invalid input: expected ${expected}, received ${typeName(value)}`);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export const text: Reader<string> = (value, path, issues) => (typeof value === 'string' ? value : invalidType(issues, path, 'string', value));

/** IMDS's "" (and null) for a missing value read as `fallback`; any other value by `read`. */
export const absentTo =
  <T, F>(fallback: F, read: Reader<T>): Reader<T | F> =>
  (value, path, issues) =>
    value === '' || value === null || value === undefined ? fallback : read(value, path, issues);

const WHOLE_NUMBER = /^\s*\d+\s*$/;

/**
 * A whole number ≥ 0, sent as a string of digits (or as a number); `message` otherwise, once per
 * rule broken as zod reported it (a negative integer past 2^53 breaks two).
 */
export const wholeNumberText =
  (message: string): Reader<number> =>
  (value, path, issues) => {
    const n = typeof value === 'string' && WHOLE_NUMBER.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n)) return refuse(issues, path, message);
    const broken = Number(!Number.isSafeInteger(n)) + Number(n < 0);
    for (let i = 0; i < broken; i++) issues.add(path, message);
    return broken ? refused() : n;
  };

/** "true" or "false" in any case (or a boolean); `message` otherwise. */
export const booleanText =
  (message: string): Reader<boolean> =>
  (value, path, issues) => {
    if (typeof value === 'boolean') return value;
    const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
    return lower === 'true' ? true : lower === 'false' ? false : refuse(issues, path, message);
  };

/** An object with these fields; other keys are left out of the result. */
export const object =
  <T>(fields: { [K in keyof T]-?: Field<T[K]> }): Reader<T> =>
  (value, path, issues) => {
    if (!isObject(value)) return invalidType(issues, path, 'object', value);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(fields) as (keyof T & string)[]) {
      const field = fields[key];
      // Own keys only: a "__proto__" key in the answer must not make other keys appear.
      if (!Object.hasOwn(value, key) && !field.required) continue;
      out[key] = field.read(value[key], [...path, key], issues);
    }
    return out as T;
  };

/** An array whose every item `read` accepts. */
export const readArray =
  <T>(read: Reader<T>): Reader<T[]> =>
  (value, path, issues) =>
    Array.isArray(value) ? value.map((item, i) => read(item, [...path, i], issues)) : invalidType(issues, path, 'array', value);

/** A string of at least one character. */
export const nonEmptyText: Reader<string> = (value, path, issues) => {
  const s = text(value, path, issues);
  return s === undefined || s.length > 0 ? s : refuse(issues, path, 'Too small: expected string to have >=1 characters');
};

/** A safe integer, at least `min` when given; zod's messages, one per rule broken. */
export const integer =
  (o: { min?: number } = {}): Reader<number> =>
  (value, path, issues) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return invalidType(issues, path, 'number', value);
    if (!Number.isInteger(value)) return invalidType(issues, path, 'int', value);
    const before = issues.list.length;
    if (value > Number.MAX_SAFE_INTEGER) issues.add(path, `Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`);
    if (value < Number.MIN_SAFE_INTEGER) issues.add(path, `Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`);
    if (o.min !== undefined && value < o.min) issues.add(path, `Too small: expected number to be >=${o.min}`);
    return issues.list.length === before ? value : refused();
  };

/** `value` through `map` first (IMDS's loose spellings to the type expected), then `read`. */
export const mapped =
  <T>(map: (value: unknown) => unknown, read: Reader<T>): Reader<T> =>
  (value, path, issues) =>
    read(map(value), path, issues);
