import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlagError, loadConfig } from '../../src/config/load.ts';
import { CONFIG_COMMANDS, OPTIONS, closestFlag, optionsOf } from '../../src/config/options.ts';
import { configSchema } from '../../src/config/schema.ts';
import { sharedFlagsHelp } from '../../src/cli/usage.ts';

const leafPaths = (tree: Record<string, unknown>, prefix = ''): string[] =>
  Object.entries(tree).flatMap(([k, v]) => (v && typeof v === 'object' && !Array.isArray(v) ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]));

const FLAGS = OPTIONS.map((o) => o.flag);

describe('a flag for every setting', () => {
  it('covers every field of the config file', () => {
    const paths = new Set(OPTIONS.map((o) => o.path));
    const missing = leafPaths(configSchema.parse({}) as Record<string, unknown>).filter((p) => !paths.has(p));
    expect(missing).toEqual([]);
  });

  it.each([
    ['--connect-timeout', '750ms', 'imds.connectTimeout', 750],
    ['--request-timeout', '3s', 'imds.requestTimeout', 3000],
    ['--max-response-bytes', '65536', 'imds.maxResponseBytes', 65536],
    ['--rate-limit', '1.5', 'imds.rateLimit.requestsPerSecond', 1.5],
    ['--rate-limit-burst', '1', 'imds.rateLimit.burst', 1],
    ['--retry-budget', '2m', 'imds.retryBudget', 120_000],
  ])('%s %s sets %s', async (flag, value, path, expected) => {
    const { config } = await loadConfig({ argv: [flag, value], env: {} });
    expect(path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], config)).toBe(expected);
  });

  it('validates them like the config file, naming the flag', async () => {
    await expect(loadConfig({ argv: ['--rate-limit', '3', '--rate-limit-burst', '2'], env: {} })).rejects.toThrow(/requestsPerSecond \+ burst must stay at or below 4/);
    await expect(loadConfig({ argv: ['--retry-budget', 'soon'], env: {} })).rejects.toThrow('imds.retryBudget (from --retry-budget)');
  });
});

describe('per-command help', () => {
  it.each([
    ['agent', ['--poll-period', '--rate-limit', '--port', '--node-name', '--tag-include', '--dry-run'], []],
    ['render', ['--label-prefix', '--tag-include', '--extras'], ['--poll-period', '--port', '--node-name', '--kubeconfig', '--rate-limit', '--dry-run']],
    ['cleanup', ['--label-prefix', '--node-name', '--kubeconfig', '--dry-run'], ['--poll-period', '--port', '--tag-include', '--rate-limit']],
  ] as const)('%s lists its flags and only those', (command, listed, absent) => {
    const help = sharedFlagsHelp(command);
    for (const flag of listed) expect(help, flag).toMatch(new RegExp(`--(\\[no-\\])?${flag.slice(2)}\\b`));
    for (const flag of absent) expect(help, flag).not.toMatch(new RegExp(`--(\\[no-\\])?${flag.slice(2)}\\b`));
    expect(help.split('\n')).toHaveLength(optionsOf(command).length + 1);
  });

  it('every flag shows in the help of some command, and the agent shows all', () => {
    for (const o of OPTIONS) expect(CONFIG_COMMANDS.some((c) => o.commands.includes(c)), o.flag).toBe(true);
    expect(optionsOf('agent')).toHaveLength(OPTIONS.length);
  });

});

describe('each command takes only its own flags', () => {
  const OWN = { agent: {}, render: { file: { type: 'string' } }, cleanup: { 'all-nodes': { type: 'boolean' } } } as const;
  /** A value the flag's field accepts, so only the flag itself can be refused. */
  const VALID: Record<string, string> = { 'imds-endpoint': 'http://127.0.0.1:9', 'api-version': '2025-04-07', 'max-response-bytes': '2048', 'rate-limit': '1', 'rate-limit-burst': '1', 'poll-jitter': '0.1', 'label-prefix': 'x.example.com', 'tag-prefix': 'tags.x.example.com', extras: 'spot', port: '9000', address: '127.0.0.1', 'log-level': 'warn', 'log-format': 'pretty', identity: 'node', 'disruptive-events': 'Reboot,Freeze' };
  const argvFor = (o: (typeof OPTIONS)[number]) => (o.kind === 'boolean' ? [`--${o.flag}`] : [`--${o.flag}`, VALID[o.flag] ?? (o.path.endsWith('Timeout') || /period|delay|budget/i.test(o.path) ? '30s' : 'v')]);
  const cases = CONFIG_COMMANDS.flatMap((command) => OPTIONS.map((o) => [command, o.flag, o.commands.includes(command)] as const));

  it.each(cases)('%s --%s: taken %s', async (command, flag, taken) => {
    const option = OPTIONS.find((o) => o.flag === flag)!;
    const result = await loadConfig({ argv: argvFor(option), env: {} }, { command, own: OWN[command] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (taken) return expect(result).toBeUndefined();
    expect(result).toBeInstanceOf(FlagError);
    const takers = option.commands.filter((c) => c !== command).join(' and ');
    expect((result as Error).message).toMatch(new RegExp(`^${command} takes no --${flag}: it is a flag of ${takers}`));
  });

  it.each([
    ['render', ['--dry-run'], 'render takes no --dry-run: it is a flag of agent and cleanup'],
    ['render', ['--no-dry-run'], 'render takes no --no-dry-run: it is a flag of agent and cleanup'],
    ['render', ['--poll-period=5s'], 'render takes no --poll-period: it is a flag of agent'],
    ['cleanup', ['--all-nodes', '--tag-include', 'x'], 'cleanup takes no --tag-include: it is a flag of agent and render'],
    ['cleanup', ['--port', '1'], 'cleanup takes no --port: it is a flag of agent'],
    ['render', ['--label-prefx', 'x.io'], 'unknown flag --label-prefx; did you mean --label-prefix?'],
    ['render', ['--fil', 'x'], 'unknown flag --fil; did you mean --file?'],
    ['cleanup', ['--all-node'], 'unknown flag --all-node; did you mean --all-nodes?'],
    ['agent', ['--file', 'x'], 'unknown flag --file'],
    ['agent', ['--all-nodes'], 'unknown flag --all-nodes'],
  ] as const)('%s %j: "%s"', async (command, argv, message) => {
    const error = await loadConfig({ argv: [...argv], env: {} }, { command, own: OWN[command] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlagError);
    expect((error as Error).message).toBe(message);
  });

  it('the config file and the environment still set any field, whatever the command', async () => {
    const file = 'poll:\n  period: 5s\nserver:\n  port: 9000\n';
    const { config } = await loadConfig({ argv: ['--config', 'f'], env: { IMDS_LABELER_RESYNC_PERIOD: '1m' }, readFile: () => file }, { command: 'render', own: OWN.render });
    expect([config.poll.period, config.server.port, config.kube.resyncPeriod]).toEqual([5000, 9000, 60_000]);
  });
});

describe('did you mean', () => {
  it.each([
    ['pol-period', 'poll-period'],
    ['--poll-peroid', 'poll-period'],
    ['--tag-exclud', 'tag-exclude'],
    ['--no-event', 'events'],
    ['--dryrun', 'dry-run'],
    ['--kubeconfg', 'kubeconfig'],
    ['--api', 'api-version'],
    ['--xyz', undefined],
    ['--log', undefined],
    ['--', undefined],
  ])('%s → %s', (typed, expected) => {
    expect(closestFlag(typed, FLAGS)).toBe(expected);
  });

  it('finds every known flag from itself', () => {
    fc.assert(fc.property(fc.constantFrom(...FLAGS), (flag) => closestFlag(`--${flag}`, FLAGS) === flag));
  });

  it('answers a flag with one character dropped or two swapped with a suggestion', () => {
    const typo = fc
      .tuple(fc.constantFrom(...FLAGS.filter((f) => f.length >= 4)), fc.nat(), fc.boolean())
      .map(([flag, n, swap]) => {
        const i = n % (flag.length - 1);
        return { flag, typed: swap ? flag.slice(0, i) + flag[i + 1]! + flag[i]! + flag.slice(i + 2) : flag.slice(0, i) + flag.slice(i + 1) };
      });
    fc.assert(fc.property(typo, ({ typed }) => closestFlag(`--${typed}`, FLAGS) !== undefined));
  });

  it('suggests nothing for text unlike any flag', () => {
    fc.assert(fc.property(fc.stringMatching(/^[0-9]{3,12}$/), (typed) => closestFlag(`--${typed}`, FLAGS) === undefined));
  });

  it.each([
    [['--pol-period', '5s'], 'unknown flag --pol-period; did you mean --poll-period?'],
    [['--no-dryrun'], 'unknown flag --no-dryrun; did you mean --no-dry-run?'],
    [['--zzz'], 'unknown flag --zzz'],
  ])('loadConfig %j: a FlagError "%s"', async (argv, message) => {
    const error = await loadConfig({ argv, env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlagError);
    expect((error as Error).message).toBe(message);
  });
});
