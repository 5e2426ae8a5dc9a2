import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runToExit, startAgentProcess } from '../helpers/agentProcess.ts';
import { agentConfig, defaultWire, desiredFor, matchesDesired, processWorld } from './harness.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The agent process and its Kubernetes connection: where the configuration comes from (and what
 * happens when there is none), and an exec credential plugin that never answers.
 */

const NODE = 'node-0';
const ctx = processWorld([NODE]);

function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown> = { token: 'sandbox-token' }, context = name): string {
  const path = join(ctx.world.dir, `${name}.kubeconfig`);
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name, cluster }], users: [{ name, user }], contexts: [{ name: context, context: { cluster: name, user: name } }], 'current-context': context }));
  return path;
}

const base = () => ['--node-name', NODE, '--imds-endpoint', ctx.world.emulator.url, '--poll-period', '200ms', '--poll-jitter', '0'];

describe('where the Kubernetes configuration comes from', () => {
  const emptyHome = () => {
    const home = join(ctx.world.dir, 'empty-home');
    mkdirSync(home, { recursive: true });
    return home;
  };

  it.each<[string, () => { args: string[]; env: NodeJS.ProcessEnv }, RegExp]>([
    ['outside a cluster with no kubeconfig at all', () => ({ args: [], env: { HOME: emptyHome() } }), /kube\.kubeconfig: no Kubernetes configuration: not in a pod .*pass --kubeconfig FILE \(or set KUBECONFIG\)/],
    ['KUBECONFIG naming files of which none exists', () => ({ args: [], env: { HOME: emptyHome(), KUBECONFIG: [join(ctx.world.dir, 'no-1'), join(ctx.world.dir, 'no-2')].join(delimiter) } }), /kube\.kubeconfig: none of the kubeconfig files/],
    ['--context that the kubeconfig does not have', () => ({ args: ['--kubeconfig', ctx.world.kubeconfig, '--context', 'prod'], env: {} }), /kube\.context: context "prod" is not in/],
    ['a SOCKS proxy-url', () => ({ args: ['--kubeconfig', kubeconfig('socks', { server: ctx.world.sandbox.url, 'proxy-url': 'socks5://127.0.0.1:1080' })], env: {} }), /proxy-url socks5:\/\/ is not supported/],
  ])('%s: exit 2 at once, saying what to do', async (_name, situation, message) => {
    const { args, env } = situation();
    const r = await runToExit(['agent', ...base(), '--port', '0', ...args], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/Invalid URL|\n\s+at /);
  });

  it.each<[string, () => { args: string[]; env: NodeJS.ProcessEnv }]>([
    ['KUBECONFIG a list: a missing file skipped, the next one used', () => ({ args: [], env: { KUBECONFIG: [join(ctx.world.dir, 'absent'), ctx.world.kubeconfig].join(delimiter) } })],
    ['~/.kube/config when nothing else is given', () => {
      const home = join(ctx.world.dir, 'home');
      mkdirSync(join(home, '.kube'), { recursive: true });
      writeFileSync(join(home, '.kube', 'config'), readFileSync(ctx.world.kubeconfig));
      return { args: [], env: { HOME: home } };
    }],
    ['--context picking the second context of a merged list', () => {
      const other = kubeconfig('other', { server: 'https://127.0.0.1:1' });
      const good = kubeconfig('good', { server: ctx.world.sandbox.url }, { token: 'sandbox-token' }, 'good-context');
      return { args: ['--kubeconfig', [other, good].join(delimiter), '--context', 'good-context'], env: {} };
    }],
    ['a plain http:// server without insecure-skip-tls-verify (kubectl proxy)', () => ({ args: ['--kubeconfig', kubeconfig('plain', { server: ctx.world.sandbox.url })], env: {} })],
  ])('%s: labels the node', async (_name, situation) => {
    ctx.world.sandbox.deleteNode(NODE);
    ctx.world.sandbox.putNode({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, labels: {}, annotations: {} } } as never);
    const { args, env } = situation();
    ctx.agent = await startAgentProcess([...base(), ...args], env);
    await waitFor('labels from the agent', () => matchesDesired(ctx.world.sandbox, desiredFor(defaultWire(), agentConfig()), NODE), { accept: Boolean });
    expect(await ctx.agent.stop('SIGTERM')).toBe(0);
  });
});

describe('an exec credential plugin that never answers', () => {
  it('is stopped after --credential-timeout, logged, makes the agent unhealthy and unready, and SIGTERM still finishes', async () => {
    const pids = join(ctx.world.dir, 'plugin-pids');
    writeFileSync(pids, '');
    const plugin = join(ctx.world.dir, 'kubelogin.sh');
    // A shell that starts a child that sleeps: the whole process group must go.
    writeFileSync(plugin, `#!/bin/sh\necho $$ >> ${pids}\nsleep 100000 &\necho $! >> ${pids}\nwait\n`);
    chmodSync(plugin, 0o755);
    const config = kubeconfig('hanging', { server: ctx.world.sandbox.url }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, args: ['get-token'], interactiveMode: 'Never' } });
    ctx.agent = await startAgentProcess([...base(), '--kubeconfig', config, '--credential-timeout', '1s']);

    const line = await ctx.agent.waitForLog((l) => /gave no credential within 1s/.test(String((l.err as { message?: string } | undefined)?.message ?? '')));
    expect(line.level === 40 || line.level === 'warn').toBe(true);
    const healthz = await fetch(`http://127.0.0.1:${ctx.agent.port}/healthz`);
    expect(healthz.status).toBe(503);
    expect(await healthz.text()).toMatch(/cannot get credentials for the Kubernetes API: exec credential plugin .*kubelogin\.sh/);
    expect((await fetch(`http://127.0.0.1:${ctx.agent.port}/readyz`)).status).toBe(503);

    // Every plugin run that timed out is gone, with its child.
    const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(started.length).toBeGreaterThanOrEqual(2);
    expect(await ctx.agent.stop('SIGTERM')).toBe(0);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    };
    const all = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    await waitFor('every plugin process gone', () => all.filter(alive), { accept: (left) => left.length === 0 });
  });
});
