import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.ts';
import { ALL_COMMANDS as COMMANDS } from '../../testbed/commands.ts';
import { ENTRY, ROOT } from '../helpers/agentProcess.ts';

const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, [ENTRY, ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 60_000, env: { PATH: process.env.PATH } });

describe('imds-labeler command line', () => {
  it('lists every subcommand in its help', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(r.stdout).toContain(`  ${name} `);
  });

  it('exits 2 on an unknown command', () => {
    const r = run(['labelz']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "labelz"');
  });

  it.each(Object.keys(COMMANDS))('%s --help prints its usage and exits 0', (name) => {
    const r = run([name, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Usage: imds-labeler ${name}`);
  });

  it.each(Object.keys(COMMANDS))('%s exits 2 on an unknown flag, naming it, with its usage', (name) => {
    const r = run([name, '--no-such-flag']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown flag --no-such-flag/);
    expect(r.stderr).toContain(`Usage: imds-labeler ${name}`);
  });

  it.each([
    [['agent', '--pol-period', '5s'], 'did you mean --poll-period?'],
    [['render', '--tag-exclud', 'x'], 'did you mean --tag-exclude?'],
    [['emulator', '--prot', '1'], 'did you mean --port?'],
    [['agnet'], 'did you mean "agent"?'],
  ])('%j: %s', (args, hint) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(hint);
  });

  // Each command takes only its own flags: another command's is refused with this command's usage.
  it.each([
    [['render', '--poll-period', '5s'], 'render takes no --poll-period: it is a flag of agent'],
    [['render', '--no-dry-run'], 'render takes no --no-dry-run: it is a flag of agent and cleanup'],
    [['cleanup', '--all-nodes', '--tag-include', 'x'], 'cleanup takes no --tag-include: it is a flag of agent and render'],
    [['agent', '--all-nodes'], 'unknown flag --all-nodes'],
    [['agent', '--file', 'doc.json'], 'unknown flag --file'],
    [['render', '--label-prefx', 'x.example.com'], 'unknown flag --label-prefx; did you mean --label-prefix?'],
    [['emulator', '--poll-period', '1s'], 'unknown flag --poll-period'],
    [['sandbox', '--label-prefix', 'x.example.com'], 'unknown flag --label-prefix'],
    [['demo', '--pol-period', '1s'], 'unknown flag --pol-period; did you mean --poll-period?'],
  ])('%j exits 2: "%s", with that command\'s usage', (args, message) => {
    const r = run(args, '{}');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`imds-labeler ${args[0]}: ${message}\n`);
    expect(r.stderr).toContain(`Usage: imds-labeler ${args[0]}`);
    expect(r.stdout).toBe('');
  });

  it.each([['--version'], ['version'], ['-v']])('%s prints the version, revision and Node.js version', (arg) => {
    const r = run([arg]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^imds-labeler ${VERSION.replaceAll('.', '\\.')} \\(revision \\S+, Node\\.js ${process.versions.node.replaceAll('.', '\\.')}\\)\\n$`));
  });

  // 250 characters: a valid prefix, but tags.<prefix> is 255, over a DNS subdomain's 253.
  const LONG_PREFIX = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(58)}`;
  it.each([
    ['agent', 'a prefix whose tag prefix is too long', ['--node-name', 'n1', '--imds-endpoint', 'http://127.0.0.1:9', '--label-prefix', LONG_PREFIX], /labels\.prefix \(from --label-prefix\): makes the tag prefix/],
    ['render', 'a prefix whose tag prefix is too long', ['--label-prefix', LONG_PREFIX], /labels\.prefix \(from --label-prefix\): makes the tag prefix/],
    ['cleanup', 'a prefix whose tag prefix is too long', ['--all-nodes', '--label-prefix', LONG_PREFIX], /labels\.prefix \(from --label-prefix\): makes the tag prefix/],
    ['agent', 'a tag prefix too long', ['--node-name', 'n1', '--imds-endpoint', 'http://127.0.0.1:9', '--tag-prefix', `${LONG_PREFIX}.eeee`], /labels\.tagPrefix \(from --tag-prefix\): must be a lowercase DNS subdomain/],
    ['render', 'a reserved prefix', ['--label-prefix', 'node.kubernetes.io'], /labels\.prefix \(from --label-prefix\): kubernetes\.io, k8s\.io and kubernetes\.azure\.com belong to Kubernetes and AKS/],
  ])('%s exits 2 at start-up on %s, naming the field', (name, _case, args, message) => {
    expect(LONG_PREFIX).toHaveLength(250);
    const r = spawnSync(process.execPath, [ENTRY, name, ...args], { cwd: ROOT, encoding: 'utf8', input: '{"compute":{"platformFaultDomain":"0"}}', timeout: 20_000, env: { PATH: process.env.PATH } });
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(2);
  });

  it('demo runs the agent against the emulator and the sandbox, shows a tag change followed, and exits 0', () => {
    const r = run(['demo']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/imds-labeler\.io\/fault-domain=\d/);
    expect(r.stdout).toMatch(/tags\.imds-labeler\.io\/\S+=demo-changed {3}\(followed in \d+ ms\)/);
  });
});
