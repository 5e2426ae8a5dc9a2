import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.ts';
import type { Command, CommandIO } from '../src/cli/command.ts';
import { UsageError } from '../src/cli/command.ts';
import { parseFlags, untilAborted } from '../src/cli/flags.ts';

const NODE = 'demo-node';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the agent against the IMDS emulator and an in-memory Kubernetes API',
  usage: `Usage: imds-labeler demo [--follow] [--fixture NAME] [--poll-period DURATION]

Starts the IMDS emulator, the in-memory Kubernetes API (sandbox) with one node, and the agent,
all on free local ports: no cloud and no cluster. Prints the node's labels after the first
sync, then changes a VM tag in the emulator's fixture file and shows the label follow.

Flags:
  --follow                keep everything running (Ctrl-C to stop) and print the URLs to use
  --fixture NAME          built-in fixture to start from (default: default)
  --poll-period DURATION  the agent's poll period (default 1s)
`,
  async run(argv, io) {
    const values = parseFlags(argv, { follow: { type: 'boolean' }, fixture: { type: 'string' }, 'poll-period': { type: 'string' } });
    if (values.help) {
      io.stdout.write(this.usage);
      return 0;
    }
    return runDemo(io, { follow: values.follow === true, fixture: values.fixture ?? 'default', pollPeriod: values['poll-period'] ?? '1s' });
  },
};

async function runDemo(io: CommandIO, options: { follow: boolean; fixture: string; pollPeriod: string }): Promise<number> {
  const [{ startEmulator }, { builtInFixture, isFixtureName, FIXTURE_NAMES }, { startSandbox }, { runAgent }, { buildAgentDependencies }, { createMetrics }, { VERSION }] = await Promise.all([
    import('./imds-emulator/server.ts'),
    import('./imds-emulator/fixtures.ts'),
    import('./kube-sandbox/server.ts'),
    import('../src/agent/run.ts'),
    import('../src/agent/dependencies.ts'),
    import('../src/observability/metrics.ts'),
    import('../src/version.ts'),
  ]);
  if (!isFixtureName(options.fixture)) throw new UsageError(`unknown fixture "${options.fixture}"; built-in fixtures: ${FIXTURE_NAMES.join(', ')}`);
  const out = (line = '') => io.stdout.write(`${line}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-demo-'));
  const fixturePath = join(dir, 'fixture.json');
  const kubeconfigPath = join(dir, 'kubeconfig');
  const fixture = builtInFixture(options.fixture);
  writeFileSync(fixturePath, JSON.stringify(fixture, null, 2));

  const emulator = await startEmulator({ port: 0, fixture: fixturePath });
  const sandbox = await startSandbox({ port: 0, nodes: [NODE] });
  sandbox.writeKubeconfig(kubeconfigPath);
  const closeAll = async () => {
    await Promise.all([emulator.close(), sandbox.close()]);
    rmSync(dir, { recursive: true, force: true });
  };
  const config = configSchema.parse({
    imds: { endpoint: emulator.url },
    poll: { period: options.pollPeriod, jitter: 0 },
    kube: { nodeName: NODE, kubeconfig: kubeconfigPath },
    server: { port: 0, address: '127.0.0.1' },
    log: { level: 'warn', format: 'pretty' },
  });
  let deps;
  try {
    // The product's own dependencies from this config; only the registry differs (no process metrics).
    deps = await buildAgentDependencies(config, { metrics: createMetrics({ version: VERSION }) });
  } catch (err) {
    // The servers would otherwise keep the process alive after the error.
    await closeAll();
    throw err;
  }
  const agentStop = new AbortController();
  const stopAll = () => agentStop.abort();
  io.signal.addEventListener('abort', stopAll, { once: true });
  let metricsPort = 0;
  const agent = runAgent({ config, ...deps, signal: agentStop.signal, onListening: (port) => (metricsPort = port) });

  const labelsNow = () => ({ ...(sandbox.getNode(NODE)?.metadata?.labels ?? {}) }) as Record<string, string>;
  const ours = (labels: Record<string, string>) => Object.entries(labels).filter(([k]) => k.startsWith(`${config.labels.prefix}/`) || k.startsWith(`${config.labels.tagPrefix}/`)).sort(([a], [b]) => (a < b ? -1 : 1));
  const waitFor = async (what: string, done: () => boolean, timeoutMs = 30_000) => {
    const started = Date.now();
    while (!done()) {
      if (io.signal.aborted) throw new Error('interrupted');
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Date.now() - started;
  };

  let exitCode = 0;
  try {
    out('imds-labeler demo: the agent against the IMDS emulator and an in-memory Kubernetes API');
    out(`  IMDS emulator   ${emulator.url}  (fixture "${options.fixture}")`);
    out(`  Kubernetes API  ${sandbox.url}  (in-memory sandbox with node "${NODE}")`);
    const firstSync = await waitFor('the first sync', () => ours(labelsNow()).length > 0);
    out(`  agent           polls every ${options.pollPeriod}; metrics at http://127.0.0.1:${metricsPort}/metrics`);
    out();
    out(`Labels on node ${NODE} after the first sync (${firstSync} ms):`);
    for (const [k, v] of ours(labelsNow())) out(`  ${k}=${v}`);
    out();

    const compute = (fixture.compute ?? {}) as { tagsList?: { name: string; value: string }[] };
    const tags = compute.tagsList ?? [];
    const tag = tags[0] ?? { name: 'env', value: '' };
    const newValue = tag.value === 'demo-changed' ? 'demo' : 'demo-changed';
    const key = `${config.labels.tagPrefix}/${tag.name}`;
    out(`Changing VM tag "${tag.name}" from "${tag.value}" to "${newValue}" in ${fixturePath} ...`);
    compute.tagsList = [{ ...tag, value: newValue }, ...tags.slice(1)];
    writeFileSync(fixturePath, JSON.stringify(fixture, null, 2));
    const followed = await waitFor(`label ${key} to follow`, () => labelsNow()[key] === newValue);
    out(`  ${key}=${newValue}   (followed in ${followed} ms)`);
    out();
    const counts = sandbox.counters();
    out(`Kubernetes API requests so far: ${counts.total} (${counts.writes} writes). With nothing changing, the agent writes nothing.`);
    if (options.follow) {
      out();
      out('Following. Try:');
      out(`  kubectl --kubeconfig ${kubeconfigPath} get node ${NODE} --show-labels`);
      out(`  curl -s http://127.0.0.1:${metricsPort}/metrics | grep imds_labeler_`);
      out(`  edit ${fixturePath} and watch the labels follow`);
      out('Press Ctrl-C to stop.');
      await untilAborted(io.signal);
    }
  } catch (err) {
    io.stderr.write(`demo failed: ${(err as Error).message}\n`);
    exitCode = 1;
  } finally {
    agentStop.abort();
    await agent;
    io.signal.removeEventListener('abort', stopAll);
    await closeAll();
  }
  return exitCode;
}
