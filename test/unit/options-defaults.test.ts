import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.ts';
import { loadConfig } from '../../src/config/load.ts';
import { OPTIONS, type OptionSpec } from '../../src/config/options.ts';

/**
 * A flag's help names its default in words ("(default 60s)", "json (default) or pretty") for the
 * reader of --help and the README; the config schema holds the default itself. This keeps the
 * two saying the same thing.
 */

/** Defaults the help describes rather than quotes: they come from elsewhere at run time. */
const DESCRIBED: Record<string, string> = {
  'tag-prefix': 'tags.<label-prefix>',
  'node-name': '$NODE_NAME',
  kubeconfig: '~/.kube/config, then in-cluster',
};

/** The default as the help quotes it: "(default X)" or "X (default)". */
function quotedDefault(option: OptionSpec): string | undefined {
  const inParens = /\(default ([^)]+)\)/.exec(option.help)?.[1];
  if (inParens !== undefined) return inParens.replace(/[:;] .*$/, '').trim();
  return /(?:^|, |or )(\S+) \(default\)/.exec(option.help)?.[1];
}

/** The help's wording of a value, read as the config schema would hold it. */
function asConfigValue(option: OptionSpec, text: string): unknown {
  if (option.kind === 'number') return Number(text);
  if (option.kind === 'boolean') return text === 'true';
  if (option.kind === 'list') return text.split(',');
  return parseDuration(text) ?? text;
}

const at = (value: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);

describe('the default each flag help names is the config schema default', async () => {
  const { config } = await loadConfig({ argv: [], env: {}, readFile: () => '' });
  const quoted = OPTIONS.map((o) => [o.flag, o, quotedDefault(o)] as const).filter(([, , q]) => q !== undefined);
  it('finds the defaults in the help texts', () => expect(quoted.length).toBeGreaterThan(20));
  it.each(quoted.filter(([flag]) => !(flag in DESCRIBED)))('--%s', (_flag, option, text) => {
    expect(asConfigValue(option, text!)).toEqual(at(config, option.path));
  });
  it.each(Object.entries(DESCRIBED))('--%s describes its default as "%s"', (flag, words) => {
    expect(quoted.find(([f]) => f === flag)?.[2]).toBe(words);
  });
});
