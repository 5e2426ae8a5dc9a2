/**
 * Route filtering under /metadata/instance: `/compute/vmSize`, `/network/interface/0/ipv4/...`.
 * Object keys match exactly, else case-insensitively; array elements are addressed by index.
 */

export type Lookup = { found: true; value: unknown } | { found: false };

/** The path segments after the route's root; empty segments (double or trailing slashes) are skipped. */
export const segmentsOf = (rest: string): string[] =>
  rest
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });

export function lookup(root: unknown, segments: readonly string[]): Lookup {
  let node: unknown = root;
  for (const segment of segments) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9]\d*)$/.test(segment)) return { found: false };
      const index = Number(segment);
      if (index >= node.length) return { found: false };
      node = node[index];
    } else if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      const key = Object.hasOwn(record, segment) ? segment : Object.keys(record).find((k) => k.toLowerCase() === segment.toLowerCase());
      if (key === undefined) return { found: false };
      node = record[key];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: node };
}

/** A leaf is a value that is not an object or an array. */
export const isLeaf = (value: unknown): boolean => typeof value !== 'object' || value === null;

/** The bare text of a leaf: IMDS's values are strings; null is the empty string. */
export const leafText = (value: unknown): string => (value === null || value === undefined ? '' : String(value));

/**
 * Text of a non-leaf: its child keys, one per line, a trailing "/" on those that have children
 * of their own; array elements are listed by index ("0/"). `/metadata/instance?format=text`
 * answers "compute/\nnetwork/".
 */
export function childListing(value: object): string {
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  return entries.map(([key, child]) => (isLeaf(child) ? key : `${key}/`)).join('\n');
}
