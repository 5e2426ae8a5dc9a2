import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../../scripts/generated.ts';
import { CHART_DIR } from '../../scripts/helm.ts';

/**
 * The Dockerfile cannot be built here (no container engine), so its rules are checked on its
 * text: a multi-stage build, a distroless Node.js 24 runtime without npm or a shell, only the
 * bundle copied in, a non-root user, and an entrypoint that agrees with the chart.
 */

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Dockerfile instructions, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending !== '' && line.startsWith('#')) return;
    if (pending === '') start = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const [keyword = '', ...rest] = full.split(/\s+/);
    out.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: start });
  });
  return out;
}

interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

function stages(instructions: Instruction[]): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const result: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--platform'));
      const image = parts[0]!.replace(/^\$\{?(\w+)\}?$/, (_m, name: string) => args.get(name) ?? `$${name}`);
      const asIndex = parts.findIndex((p) => p.toUpperCase() === 'AS');
      result.push({ from: image, ...(asIndex > 0 ? { name: parts[asIndex + 1]! } : {}), instructions: [] });
    } else if (result.length === 0 && ins.keyword === 'ARG') {
      const [name, value = ''] = ins.args.split('=');
      args.set(name!, value);
    } else {
      result.at(-1)?.instructions.push(ins);
    }
  }
  return { args, stages: result };
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const { stages: all } = stages(parseDockerfile(dockerfile));
const build = all[0]!;
const runtime = all.at(-1)!;
const runtimeOf = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword);
const execForm = (args: string) => JSON.parse(args) as string[];

describe('Dockerfile', () => {
  it('is multi-stage: a Node.js 24 build stage and a separate runtime stage', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(build.from).toMatch(/^node:24(\.|-|$)/);
    expect(build.name).toBe('build');
  });

  it('builds with the lockfile (npm ci) and the project\'s build script', () => {
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    const copies = build.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    // The manifest and lockfile come first, so the dependency layer is cached across source changes.
    expect(copies[0]).toBe('package.json package-lock.json ./');
  });

  it('runs on distroless Node.js 24: no npm, no shell, no package manager', () => {
    expect(runtime.from).toMatch(/^gcr\.io\/distroless\/nodejs24-debian1[23](:nonroot)?(@sha256:[a-f0-9]{64})?$/);
    // The one RUN is the runtime's node filling the compile cache: exec form, no shell.
    expect(runtimeOf('RUN').map((i) => execForm(i.args))).toEqual([['/nodejs/bin/node', '/app/compile-cache.mjs']]);
    expect(runtime.instructions.some((i) => /\bnpm\b/.test(i.args) && i.keyword !== 'LABEL')).toBe(false);
  });

  it('copies only the bundle from the build stage into the runtime', () => {
    const copies = runtimeOf('COPY').concat(runtimeOf('ADD'));
    expect(copies).toHaveLength(1);
    expect(copies[0]!.keyword).toBe('COPY');
    const args = copies[0]!.args.split(/\s+/);
    expect(args).toContain('--from=build');
    const paths = args.filter((a) => !a.startsWith('--'));
    expect(paths).toEqual(['/src/dist/', '/app/']);
  });

  it('makes the compile cache with the node options the agent runs with', () => {
    const run = runtimeOf('RUN')[0]!;
    const env = runtimeOf('ENV').filter((i) => i.line < run.line).map((i) => i.args).join(' ');
    expect(env).toMatch(/NODE_OPTIONS="[^"]*"/);
    expect(env).toContain('NODE_COMPILE_CACHE=/app/compile-cache');
    // No ENV after the cache is made: the flags it was made with are the ones the agent runs with.
    expect(runtimeOf('ENV').filter((i) => i.line > run.line)).toEqual([]);
  });

  it('runs as the non-root user 65532', () => {
    const users = runtimeOf('USER');
    expect(users.at(-1)!.args).toMatch(/^65532(:65532)?$/);
    // The instructions after USER write nothing, so a read-only root file system is enough.
    const userLine = users.at(-1)!.line;
    expect(runtime.instructions.filter((i) => i.line > userLine && ['COPY', 'ADD', 'RUN'].includes(i.keyword))).toEqual([]);
  });

  it('runs the bundle with node; the default command is the one the chart passes', () => {
    expect(execForm(runtimeOf('ENTRYPOINT')[0]!.args)).toEqual(['/nodejs/bin/node', '/app/imds-labeler.mjs']);
    const cmd = execForm(runtimeOf('CMD')[0]!.args);
    const daemonSet = readFileSync(join(CHART_DIR, 'templates', 'daemonset.yaml'), 'utf8');
    const chartArgs = /args:\n((?:\s+- .+\n)+)/.exec(daemonSet)![1]!.split('\n').map((l) => l.trim().replace(/^- /, '')).filter(Boolean);
    expect(cmd).toEqual(chartArgs);
    expect(cmd).toEqual(['agent', '--config', '/etc/imds-labeler/config.json']);
  });

  it('sizes V8 for the container: a small young generation, an old-space cap under the memory limit', () => {
    const env = runtimeOf('ENV').map((i) => i.args).join(' ');
    const options = /NODE_OPTIONS="([^"]*)"/.exec(env)?.[1] ?? '';
    expect(options).toMatch(/--max-semi-space-size=\d+/);
    const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
    const values = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as { resources: { limits: { memory: string } } };
    const limitMiB = Number(values.resources.limits.memory.replace('Mi', ''));
    expect(oldSpace).toBeGreaterThan(0);
    expect(oldSpace).toBeLessThan(limitMiB);
    expect(env).toContain('NODE_ENV=production');
  });

  it('is the one source of NODE_OPTIONS: every mention in the docs and values keeps its flags', () => {
    const env = runtimeOf('ENV').map((i) => i.args).join(' ');
    const image = /NODE_OPTIONS="([^"]*)"/.exec(env)![1]!;
    const flagNames = (options: string) => options.split(/\s+/).filter(Boolean).map((f) => f.replace(/=.*$/, '')).sort();
    // A NODE_OPTIONS in extraEnv replaces the image's: an example that drops a flag (--jitless)
    // silently changes the runtime. Sizes may differ; the flags may not.
    const sources = ['docs/install.md', 'charts/imds-labeler/values.yaml', 'charts/imds-labeler/README.md', 'docs/values.md'];
    let mentions = 0;
    for (const path of sources) {
      // Comment markers and table cells joined, so a mention that wraps a line reads as one.
      const text = readFileSync(join(ROOT, path), 'utf8').replace(/\n\s*#\s?/g, ' ');
      for (const at of [...text.matchAll(/NODE_OPTIONS/g)].map((m) => m.index)) {
        const after = /^[^-\n]{0,12}((?:--[a-z-]+(?:=[0-9A-Za-z.]+)?(?:\s+|(?=[",)\s]|$)))+)/.exec(text.slice(at + 'NODE_OPTIONS'.length));
        if (!after) continue; // a mention without flags ("the image's NODE_OPTIONS")
        mentions++;
        expect(flagNames(after[1]!), `${path}: ${after[0]}`).toEqual(flagNames(image));
      }
    }
    expect(mentions).toBeGreaterThanOrEqual(3);
    expect(readFileSync(join(ROOT, 'docs/install.md'), 'utf8')).toContain(`NODE_OPTIONS="${image}"`);
  });

  it('exposes the metrics port the chart uses', () => {
    const values = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as { config: { server: { port: number } } };
    expect(runtimeOf('EXPOSE').map((i) => i.args)).toEqual([String(values.config.server.port)]);
  });

  it('keeps secrets and build tools out of the image', () => {
    for (const i of runtimeOf('ENV').concat(runtimeOf('ARG'))) expect(i.args).not.toMatch(/TOKEN|SECRET|PASSWORD|NPM_/i);
  });
});

describe('.dockerignore', () => {
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  it('keeps installed and built files, tools, stand-ins and history out of the build context', () => {
    for (const entry of ['**/node_modules', 'dist', '.tools', '.git', 'testbed']) expect(ignored).toContain(entry);
  });
  it('keeps what the build needs in it', () => {
    for (const needed of ['package.json', 'package-lock.json', 'src', 'scripts', 'cmd', 'tsconfig.json']) expect(ignored).not.toContain(needed);
  });
});
