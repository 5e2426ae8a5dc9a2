import { readFileSync, statSync } from 'node:fs';

/**
 * A file re-read when it changes, checked on demand (one stat per call): a test or a user edits a
 * fixture or a faults file, and the next request sees it. A change that does not parse keeps the
 * last good value, and reports the error once.
 */
export class WatchedFile<T> {
  readonly path: string;
  readonly #parse: (text: string, path: string) => T;
  #stamp: string;
  #value: T;

  /** Reads and parses the file now; throws what `parse` throws, or the read error. */
  constructor(path: string, parse: (text: string, path: string) => T) {
    this.path = path;
    this.#parse = parse;
    this.#stamp = this.#stat() ?? '';
    this.#value = parse(readFileSync(path, 'utf8'), path);
  }

  get value(): T {
    return this.#value;
  }

  /** The current value; `changed` when the file was re-read, `error` when the new text was rejected. */
  poll(): { value: T; changed: boolean; error?: Error } {
    const stamp = this.#stat();
    if (stamp === undefined || stamp === this.#stamp) return { value: this.#value, changed: false };
    this.#stamp = stamp;
    try {
      this.#value = this.#parse(readFileSync(this.path, 'utf8'), this.path);
      return { value: this.#value, changed: true };
    } catch (err) {
      return { value: this.#value, changed: false, error: err as Error };
    }
  }

  /** Inode, size and nanosecond mtime; undefined while the file is missing (mid-rename, say). */
  #stat(): string | undefined {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch {
      return undefined;
    }
  }
}
