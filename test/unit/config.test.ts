import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const load = async (argv: string[], env: Record<string, string> = {}, file?: string) =>
  (await loadConfig({ argv, env, readFile: () => file ?? '' })).config;

describe('durations', () => {
  it.each([
    ['60s', 60_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['0', 0],
    ['1.5s', 1500],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '60', 's', '-1s', '5 s', '1d', 'soon'])('"%s" is not a duration', (text) => expect(parseDuration(text)).toBeUndefined());
  it('round-trips every formatted duration (property)', () => {
    fc.assert(fc.property(fc.nat(10 ** 9), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});

describe('configuration precedence: defaults < file < environment < flags', () => {
  const file = 'poll:\n  period: 30s\nlabels:\n  prefix: file.example.com\n';
  it('uses the defaults', async () => {
    const c = await load([]);
    expect(c.poll.period).toBe(60_000);
    expect(c.imds.endpoint).toBe('http://169.254.169.254');
    expect(c.labels.prefix).toBe('imds-labeler.io');
    expect(c.labels.tagPrefix).toBe('tags.imds-labeler.io');
    expect(c.server.port).toBe(9721);
  });
  it('the file overrides defaults', async () => expect((await load(['--config', 'f'], {}, file)).poll.period).toBe(30_000));
  it('the environment overrides the file', async () => expect((await load(['--config', 'f'], { IMDS_LABELER_POLL_PERIOD: '10s' }, file)).poll.period).toBe(10_000));
  it('flags override the environment', async () => expect((await load(['--config', 'f', '--poll-period', '5s'], { IMDS_LABELER_POLL_PERIOD: '10s' }, file)).poll.period).toBe(5_000));
  it('the tag prefix follows the label prefix', async () => expect((await load(['--config', 'f'], {}, file)).labels.tagPrefix).toBe('tags.file.example.com'));
  it('reads a JSON file, as the chart writes it, like the same YAML', async () => {
    const json = JSON.stringify({ poll: { period: '30s' }, labels: { prefix: 'file.example.com' } }, null, 2);
    expect(await load(['--config', 'f'], {}, json)).toEqual(await load(['--config', 'f'], {}, file));
  });
  it('reads a YAML flow mapping, which is not JSON', async () => expect((await load(['--config', 'f'], {}, '{poll: {period: 15s}}')).poll.period).toBe(15_000));
  it('reads NODE_NAME and KUBECONFIG from the downward API conventions', async () => {
    const c = await load([], { NODE_NAME: 'n1', KUBECONFIG: '/k' });
    expect([c.kube.nodeName, c.kube.kubeconfig]).toEqual(['n1', '/k']);
  });
  it('takes lists repeated or comma-separated', async () => {
    expect((await load(['--tag-include', 'a*,b', '--tag-include', 'c'])).labels.tags.include).toEqual(['a*', 'b', 'c']);
  });
  it('takes --no-<flag> for booleans', async () => expect((await load(['--no-events'])).kube.events).toBe(false));
  it.each([
    [[], {}, undefined, 'serviceAccount'],
    [['--identity', 'node'], {}, undefined, 'node'],
    [[], { IMDS_LABELER_IDENTITY: 'node' }, undefined, 'node'],
    [['--config', 'f'], {}, '{"kube": {"identity": "node"}}', 'node'],
  ])('kube.identity from %j %j %j is %s', async (argv, env, file, identity) => expect((await load(argv, env, file)).kube.identity).toBe(identity));
});

describe('invalid configuration names the field and why', () => {
  const cases: [string, string[], Record<string, string>, string | undefined, RegExp][] = [
    ['a bad duration flag', ['--poll-period', 'soon'], {}, undefined, /poll\.period \(from --poll-period\): "soon" is not a duration/],
    ['a bad port', ['--port', 'http'], {}, undefined, /server\.port \(from --port\)/],
    ['a bad boolean in the environment', [], { IMDS_LABELER_DRY_RUN: 'maybe' }, undefined, /dryRun \(from \$IMDS_LABELER_DRY_RUN\)/],
    ['a reserved prefix', ['--label-prefix', 'node.kubernetes.io'], {}, undefined, /labels\.prefix.*kubernetes\.io, k8s\.io and kubernetes\.azure\.com belong to Kubernetes and AKS: use a prefix of your own/],
    ['an unknown identity', ['--identity', 'system:node:n1'], {}, undefined, /kube\.identity \(from --identity\).*"serviceAccount"\|"node"/],
    ['scheduled events as the node', ['--identity', 'node', '--scheduled-events'], {}, undefined, /scheduledEvents\.enabled.*kube\.identity serviceAccount/],
    ['an upper-case prefix', ['--label-prefix', 'Example.com'], {}, undefined, /labels\.prefix.*DNS subdomain/],
    ['an https IMDS endpoint', ['--imds-endpoint', 'https://169.254.169.254'], {}, undefined, /imds\.endpoint.*http:\/\//],
    ['an unknown extra', ['--extras', 'gpu'], {}, undefined, /labels\.extras/],
    ['an unknown field in the file', ['--config', 'f'], {}, 'pol:\n  period: 1s\n', /pol: unknown field/],
    ['a nested unknown field', ['--config', 'f'], {}, 'poll:\n  periodd: 1s\n', /poll\.periodd: unknown field/],
    ['a file that is not YAML', ['--config', 'f'], {}, 'a: [', /not valid JSON or YAML/],
    ['a file of broken JSON', ['--config', 'f'], {}, '{"poll": {"period": "1s",}', /not valid JSON or YAML/],
    ['an unknown field in a JSON file', ['--config', 'f'], {}, '{"pol": {"period": "1s"}}', /pol: unknown field/],
    ['a file that is a list', ['--config', 'f'], {}, '- a\n', /mapping at the top level/],
    ['a rate limit above IMDS\'s', ['--config', 'f'], {}, 'imds:\n  rateLimit:\n    requestsPerSecond: 4\n    burst: 2\n', /imds\.rateLimit/],
    ['jitter out of range', ['--poll-jitter', '0.9'], {}, undefined, /poll\.jitter/],
    ['an unknown flag', ['--pol-period', '1s'], {}, undefined, /pol-period/],
    // Past 2^31−1 ms a Node timer fires after 1 ms; far below that a value is a typo.
    ['a watch timeout of 700h', ['--watch-timeout', '700h'], {}, undefined, /kube\.watchTimeout \(from --watch-timeout\): "700h" is out of range: must be at least 1s and at most 1h/],
    ['a poll period of 1000h', ['--poll-period', '1000h'], {}, undefined, /poll\.period \(from --poll-period\): "1000h" is out of range: must be at least 100ms and at most 24h/],
    ['a poll period under 100ms', ['--poll-period', '50ms'], {}, undefined, /poll\.period.*at least 100ms/],
    ['a resync period past a day', ['--resync-period', '25h'], {}, undefined, /kube\.resyncPeriod.*at most 24h/],
    ['an initial delay past an hour', ['--initial-delay', '61m'], {}, undefined, /poll\.initialDelay.*at most 1h/],
    ['a request timeout in milliseconds past 5m', ['--config', 'f'], {}, 'imds:\n  requestTimeout: 300001\n', /imds\.requestTimeout.*300001ms is out of range.*at most 5m/],
    ['a connect timeout of 0', ['--config', 'f'], {}, 'imds:\n  connectTimeout: 0s\n', /imds\.connectTimeout.*at least 1ms/],
    ['a retry budget past an hour', ['--config', 'f'], {}, 'imds:\n  retryBudget: 2h\n', /imds\.retryBudget.*at most 1h/],
    ['a duration too large for a number', ['--poll-period', `${'9'.repeat(400)}h`], {}, undefined, /poll\.period.*out of range/],
  ];
  it.each(cases)('%s', async (_name, argv, env, file, message) => {
    let error: unknown;
    try {
      await load(argv, env, file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
  });
  it('sets the field on the error', async () => {
    try {
      await load(['--poll-period', 'x']);
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).field).toBe('poll.period');
    }
  });
});
