import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox } from '../../testbed/kube-sandbox/server.ts';
import { ENTRY, ROOT } from '../helpers/agentProcess.ts';

type Sandbox = Awaited<ReturnType<typeof startSandbox>>;
let sandbox: Sandbox;
const kubeconfig = join(mkdtempSync(join(tmpdir(), 'imds-labeler-cleanup-')), 'kubeconfig');

const owned = (extra: Record<string, string> = {}) => ({
  labels: { 'imds-labeler.io/zone': '1', 'tags.imds-labeler.io/env': 'prod', 'tags.imds-labeler.io/hand-made': 'x', 'team.example.com/owner': 'a', ...extra },
  annotations: {
    'imds-labeler.io/owned-labels': 'imds-labeler.io/zone,tags.imds-labeler.io/env',
    'imds-labeler.io/owned-annotations': 'imds-labeler.io/tags',
    'imds-labeler.io/tags': '[{"name":"env","value":"prod"}]',
    'example.com/note': 'keep',
  },
});

// Asynchronous on purpose: the sandbox answers from this very process.
const cleanup = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [ENTRY, 'cleanup', '--kubeconfig', kubeconfig, ...args], { cwd: ROOT, timeout: 60_000, env: { PATH: process.env.PATH } }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  sandbox = await startSandbox({ port: 0, nodes: ['n1', 'n2', 'n3'] });
  sandbox.writeKubeconfig(kubeconfig);
  for (const name of ['n1', 'n2']) {
    const node = sandbox.getNode(name)!;
    const extra = owned();
    sandbox.putNode({ ...node, metadata: { ...node.metadata, labels: { ...node.metadata.labels, ...extra.labels }, annotations: { ...node.metadata.annotations, ...extra.annotations } } });
  }
});
afterAll(async () => sandbox?.close());

describe('imds-labeler cleanup (the chart\'s uninstall hook)', () => {
  it('needs --all-nodes or a node name', async () => {
    const r = await cleanup();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--all-nodes or --node-name/);
  });

  it('dry run changes nothing', async () => {
    sandbox.resetCounters();
    expect((await cleanup('--all-nodes', '--dry-run')).status).toBe(0);
    expect(sandbox.counters().writes).toBe(0);
  });

  it('removes exactly the keys in the ownership record, on every node, and nothing else', async () => {
    sandbox.resetCounters();
    const r = await cleanup('--all-nodes');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const name of ['n1', 'n2']) {
      const { labels, annotations } = sandbox.getNode(name)!.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
      expect(Object.keys(labels).filter((k) => k.includes('imds-labeler.io/'))).toEqual(['tags.imds-labeler.io/hand-made']);
      expect(labels['team.example.com/owner']).toBe('a');
      expect(Object.keys(annotations).filter((k) => k.includes('imds-labeler.io/'))).toEqual([]);
      expect(annotations['example.com/note']).toBe('keep');
    }
    // One patch per node that had something to remove; n3 had nothing.
    expect(sandbox.counters().byVerbResource['patch nodes']).toBe(2);
    expect((await cleanup('--all-nodes')).status).toBe(0);
    expect(sandbox.counters().byVerbResource['patch nodes']).toBe(2);
  });
});
