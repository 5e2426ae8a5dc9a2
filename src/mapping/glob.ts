/**
 * The tag include/exclude patterns: `*` matches any run of characters (also none), `?` exactly
 * one character, everything else itself. There is no escape and no character class: Azure tag
 * names cannot hold `?`, and a literal `*` is matched by `*` anyway.
 *
 * Matching is case-insensitive, because Azure treats tag names case-insensitively (`Env` and
 * `env` are the same tag to Resource Manager). Both sides are folded with `foldCase`, the same
 * function that decides when two tag names are duplicates, so a pattern and the duplicate check
 * never disagree. "Character" means a Unicode code point, not a UTF-16 unit.
 *
 * Matching is linear in the length of the name times the length of the pattern (no regular
 * expression, so no catastrophic backtracking on hostile tags).
 */

/**
 * Case folding as Resource Manager compares tag names (ordinal, ignoring case): each code point
 * is mapped to its uppercase form when that form is a single code point, and kept otherwise
 * ("ß" stays "ß"; "ſ" and "s" both become "S"; the Kelvin sign stays itself, as in .NET).
 */
export function foldCase(text: string): string {
  let out = '';
  for (const ch of text) {
    const upper = ch.toUpperCase();
    out += [...upper].length === 1 ? upper : ch;
  }
  return out;
}

/** A compiled pattern: call it with a tag name. */
export type GlobMatcher = (name: string) => boolean;

export function compileGlob(pattern: string): GlobMatcher {
  const p = [...foldCase(pattern)];
  if (p.every((c) => c === '*') && p.length > 0) return () => true;
  return (name) => matchFolded(p, [...foldCase(name)]);
}

export const matchesGlob = (pattern: string, name: string): boolean => compileGlob(pattern)(name);

/** Classic wildcard matching with one backtrack point: O(name × pattern) at worst. */
function matchFolded(p: readonly string[], s: readonly string[]): boolean {
  let pi = 0;
  let si = 0;
  let star = -1;
  let resume = 0;
  while (si < s.length) {
    if (pi < p.length && (p[pi] === '?' || (p[pi] !== '*' && p[pi] === s[si]))) {
      pi++;
      si++;
    } else if (pi < p.length && p[pi] === '*') {
      star = pi++;
      resume = si;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** Which tag names pass: those matching at least one include and no exclude pattern. */
export function tagNameFilter(include: readonly string[], exclude: readonly string[]): GlobMatcher {
  const inc = include.map(compileGlob);
  const exc = exclude.map(compileGlob);
  return (name) => inc.some((m) => m(name)) && !exc.some((m) => m(name));
}
