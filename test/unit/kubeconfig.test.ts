import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadKubeConfig } from '../../src/kube/clientNode.ts';

const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kubeconfig = {
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:443', 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' } }],
  users: [{ name: 'u', user: { tokenFile: 'token' } }],
  contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'ns' } }],
  'current-context': 'ctx',
};
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadKubeConfig', () => {
  it.each([
    ['JSON', () => write('kubeconfig.json', JSON.stringify(kubeconfig, null, 2))],
    ['YAML', () => write('kubeconfig.yaml', stringify(kubeconfig))],
  ])('reads a %s kubeconfig as kubectl does: current context, cluster, user, paths relative to the file', async (_format, path) => {
    const kc = await loadKubeConfig(path());
    expect(kc.getCurrentContext()).toBe('ctx');
    expect(kc.getCurrentCluster()).toMatchObject({ name: 'c', server: 'https://10.0.0.1:443', caFile: join(dir, 'ca.crt'), tlsServerName: 'kubernetes' });
    expect(kc.getCurrentUser()).toMatchObject({ name: 'u', authProvider: undefined });
    expect(kc.getContextObject('ctx')?.namespace).toBe('ns');
  });

  it('JSON and YAML give the same configuration', async () => {
    const fromJson = await loadKubeConfig(write('same.json', JSON.stringify(kubeconfig)));
    const fromYaml = await loadKubeConfig(write('same.yaml', stringify(kubeconfig)));
    expect(fromJson.exportConfig()).toEqual(fromYaml.exportConfig());
  });

  it.each([
    ['a list', '- a\n- b\n', /no mapping|clusters/],
    ['a cluster without a server', JSON.stringify({ ...kubeconfig, clusters: [{ name: 'c', cluster: {} }] }), /server/],
    ['text that is neither', 'clusters: [\n', /./],
  ])('refuses %s with an error', async (_name, text, message) => {
    await expect(loadKubeConfig(write('bad', text))).rejects.toThrow(message);
  });
});
