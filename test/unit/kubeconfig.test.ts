import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { KubeConfigError, loadKubeConfig, type KubeConfigSource } from '../../src/kube/kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (name: string, server: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name, cluster: { server, 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' } }],
  users: [{ name, user: { tokenFile: 'token' } }],
  contexts: [{ name, context: { cluster: name, user: name, namespace: 'ns' } }],
  'current-context': name,
  ...extra,
});
const write = (name: string, value: unknown, yaml = false) => {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : yaml ? stringify(value) : JSON.stringify(value));
  return path;
};
const a = write('a.json', config('a', 'https://10.0.0.1:443'));
const b = write('b.yaml', config('b', 'https://10.0.0.2:443', { 'current-context': 'b', contexts: [{ name: 'b', context: { cluster: 'b', user: 'b' } }, { name: 'a', context: { cluster: 'b', user: 'b' } }] }), true);
const noCurrent = write('no-current.json', { ...config('c', 'https://10.0.0.3'), 'current-context': undefined });
const plainHttp = write('http.json', config('proxy', 'http://127.0.0.1:8001'));
const home = join(dir, 'home');
mkdirSync(join(home, '.kube'), { recursive: true });
writeFileSync(join(home, '.kube', 'config'), JSON.stringify(config('home', 'https://10.0.0.9')));
const missing = join(dir, 'missing');

type Outcome = { server: string; context: string; from?: string } | { error: RegExp; field: string };
const table: [string, Omit<KubeConfigSource, 'env'> & { env?: NodeJS.ProcessEnv }, Outcome][] = [
  ['one JSON file', { kubeconfig: a }, { server: 'https://10.0.0.1:443', context: 'a', from: a }],
  ['one YAML file', { kubeconfig: b }, { server: 'https://10.0.0.2:443', context: 'b' }],
  ['a list: the first file sets current-context, the first definition of a name wins', { kubeconfig: [a, b].join(delimiter) }, { server: 'https://10.0.0.1:443', context: 'a', from: [a, b].join(delimiter) }],
  ['a list the other way round', { kubeconfig: [b, a].join(delimiter) }, { server: 'https://10.0.0.2:443', context: 'b' }],
  ['a list: a missing file is skipped', { kubeconfig: [missing, b].join(delimiter) }, { server: 'https://10.0.0.2:443', context: 'b', from: b }],
  ['a list: current-context from the first file that sets one', { kubeconfig: [noCurrent, a].join(delimiter) }, { server: 'https://10.0.0.1:443', context: 'a' }],
  ['--context picks a context of another file', { kubeconfig: [a, b].join(delimiter), context: 'b' }, { server: 'https://10.0.0.2:443', context: 'b' }],
  ['--context unknown', { kubeconfig: a, context: 'nope' }, { error: /context "nope" is not in .*contexts: a/, field: 'kube.context' }],
  ['no current-context and no --context', { kubeconfig: noCurrent }, { error: /sets no current-context; pass --context/, field: 'kube.context' }],
  ['a single file that does not exist', { kubeconfig: missing }, { error: /kubeconfig .*missing does not exist/, field: 'kube.kubeconfig' }],
  ['a list of which no file exists', { kubeconfig: [missing, `${missing}2`].join(delimiter) }, { error: /none of the kubeconfig files/, field: 'kube.kubeconfig' }],
  ['nothing given: ~/.kube/config', { env: { HOME: home } }, { server: 'https://10.0.0.9', context: 'home', from: join(home, '.kube', 'config') }],
  ['nothing given, no ~/.kube/config, not in a pod', { env: { HOME: dir } }, { error: /no Kubernetes configuration: not in a pod .*pass --kubeconfig FILE/, field: 'kube.kubeconfig' }],
  ['nothing given, no HOME, not in a pod', { env: {} }, { error: /no Kubernetes configuration/, field: 'kube.kubeconfig' }],
  ['in a pod without the service account files', { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' } }, { error: /serviceaccount\/token does not exist/, field: 'kube.kubeconfig' }],
  ['plain http:// (kubectl proxy), no insecure-skip-tls-verify', { kubeconfig: plainHttp }, { server: 'http://127.0.0.1:8001', context: 'proxy' }],
];

describe('loadKubeConfig: where the configuration comes from, as kubectl finds it', () => {
  it.each(table)('%s', async (_name, source, outcome) => {
    const load = loadKubeConfig({ env: {}, ...source });
    if ('error' in outcome) {
      const err = await load.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(KubeConfigError);
      expect((err as KubeConfigError).message).toMatch(outcome.error);
      expect((err as KubeConfigError).field).toBe(outcome.field);
      return;
    }
    const loaded = await load;
    expect(loaded.server).toBe(outcome.server);
    expect(loaded.kc.getCurrentContext()).toBe(outcome.context);
    if (outcome.from) expect(loaded.from).toBe(outcome.from);
  });

  it('paths are relative to the file that names them; tokenFile is read as the token rotates', async () => {
    const { kc } = await loadKubeConfig({ kubeconfig: a, env: {} });
    expect(kc.getCurrentCluster()).toMatchObject({ name: 'a', caFile: join(dir, 'ca.crt'), tlsServerName: 'kubernetes' });
    expect(kc.getCurrentUser()?.authProvider).toEqual({ name: 'tokenFile', config: { tokenFile: join(dir, 'token') } });
    writeFileSync(join(dir, 'token'), 'first');
    writeFileSync(join(dir, 'ca.crt'), 'not a real CA');
    const opts: { headers?: Record<string, string> } = {};
    await kc.applyToHTTPSOptions(opts);
    expect(opts.headers?.Authorization).toBe('Bearer first');
  });

  it('JSON and YAML give the same configuration', async () => {
    const doc = config('same', 'https://10.0.0.5');
    const fromJson = await loadKubeConfig({ kubeconfig: write('same.json', doc), env: {} });
    const fromYaml = await loadKubeConfig({ kubeconfig: write('same.yaml', doc, true), env: {} });
    expect(fromJson.kc.exportConfig()).toEqual(fromYaml.kc.exportConfig());
  });

  it('a plain http:// server needs no TLS settings: credentials apply without insecure-skip-tls-verify', async () => {
    writeFileSync(join(dir, 'token'), 't');
    const { kc } = await loadKubeConfig({ kubeconfig: plainHttp, env: {} });
    const opts: { headers?: Record<string, string> } = {};
    await expect(kc.applyToHTTPSOptions(opts)).resolves.toBeUndefined();
    expect(opts.headers?.Authorization).toBe('Bearer t');
  });

  it.each([
    ['a list', '- a\n- b\n', /no mapping/],
    ['a cluster without a server', JSON.stringify({ ...config('c', 'x'), clusters: [{ name: 'c', cluster: {} }] }), /server/],
    ['text that is neither', 'clusters: [\n', /cannot read kubeconfig/],
    ['a server that is not a URL', JSON.stringify(config('c', 'not a url')), /not a URL/],
    ['a context naming a missing cluster', JSON.stringify({ ...config('c', 'https://x'), clusters: [] }), /names cluster "c", which is not defined/],
  ])('refuses %s with a KubeConfigError', async (_name, text, message) => {
    const err = await loadKubeConfig({ kubeconfig: write('bad', text), env: {} }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KubeConfigError);
    expect((err as Error).message).toMatch(message);
  });
});
