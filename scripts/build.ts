import { build, type Metafile, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The bundle the container image ships: dist/imds-labeler.mjs plus the chunks it loads lazily
 * (dist/chunks/), with every dependency inlined, so the image needs no node_modules.
 *
 * Everything here serves the agent's footprint (docs/performance.md has the numbers):
 *
 * - split: each subcommand is its own chunk. `agent` never parses the emulator, the sandbox, the
 *   demo or the render command, and rarely used libraries (proxies, OIDC...) load only when used.
 * - client-node modules are side-effect free (`sideEffects`), so the deep imports in
 *   src/kube/kubeconfig.ts keep only KubeConfig and what it reaches.
 * - lazy: OIDC, Azure and GCP auth-provider plugins load on first use; the modules KubeConfig
 *   imports for what the agent never calls (undici for the generated API client, the proxy
 *   agents of applyToHTTPSOptions, SOCKS) are left out. The agent's requests go through
 *   src/kube/httpTransport.ts (node:http/https); a proxy-url loads hpagent.
 *
 * Each step can be turned off (`--no-<step>`) to measure what it buys.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// esbuild names files by their real paths: a node_modules that is a symbolic link must not make
// these checks miss (undici and the rest would then ride into the agent's path unnoticed).
const CLIENT_NODE = realpathSync(join(ROOT, 'node_modules/@kubernetes/client-node/dist'));

export const STEPS = ['split', 'sideEffects', 'lazy', 'builtins', 'metrics', 'logger', 'yaml', 'names'] as const;
export type Step = (typeof STEPS)[number];

export interface BuildOptions {
  /** Output directory; default dist/ in the repository. */
  outdir?: string;
  /** Steps turned off, to measure what each one buys. */
  disable?: readonly Step[];
  /** Minify identifiers too (off: stack traces stay readable). */
  minifyIdentifiers?: boolean;
}

export interface BuildResult {
  outdir: string;
  entry: string;
  /** Bytes of every .mjs file written. */
  totalBytes: number;
  /** Bytes of the files the agent subcommand loads (entry plus its static and dynamic imports on the agent path). */
  metafile: Metafile;
}

export async function buildBundle(options: BuildOptions = {}): Promise<BuildResult> {
  const outdir = resolve(options.outdir ?? join(ROOT, 'dist'));
  const on = (step: Step) => !options.disable?.includes(step);
  rmSync(outdir, { recursive: true, force: true });
  const plugins = bundlePlugins(options.disable);
  const split = on('split');

  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { 'imds-labeler': 'cmd/agent-image.ts' },
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    splitting: split,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minifySyntax: true,
    minifyWhitespace: true,
    minifyIdentifiers: options.minifyIdentifiers ?? false,
    // esbuild's keepNames wraps every function and class in a __name() call at load time (about
    // 30 ms of start-up without the JIT). Identifiers are not minified, so names survive, but for
    // a suffix where two modules' names collide (pino2).
    keepNames: !on('names'),
    treeShaking: true,
    legalComments: 'linked',
    metafile: true,
    // Some dependencies still call require(); give each ESM file one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins,
    define: { 'process.env.IMDS_LABELER_REVISION': JSON.stringify(sourceRevision()) },
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.mjs'));
  const chunks = agentPathFiles(result.metafile)
    .slice(1)
    .map((f) => `./${relative(outdir, join(ROOT, f)).replaceAll('\\', '/')}`);
  writeFileSync(join(outdir, COMPILE_CACHE_SCRIPT), compileCacheScript(chunks));
  const totalBytes = outputs.reduce((sum, f) => sum + statSync(join(ROOT, f)).size, 0);
  return { outdir, entry: join(outdir, 'imds-labeler.mjs'), totalBytes, metafile: result.metafile };
}

/** The revision build_info reports: $REVISION (a release pipeline sets it), else the checkout's commit. */
function sourceRevision(): string {
  if (process.env.REVISION) return process.env.REVISION;
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The esbuild plugins of the footprint steps that are on. */
export function bundlePlugins(disable: readonly Step[] = []): Plugin[] {
  const on = (step: Step) => !disable.includes(step);
  const plugins: Plugin[] = [];
  if (on('sideEffects')) plugins.push(sideEffectFree());
  if (on('lazy')) plugins.push(lazyOptionalModules());
  if (on('builtins')) plugins.push(builtinsViaRequire());
  if (on('metrics')) plugins.push(promClientParts());
  if (on('logger')) plugins.push(pinoWithoutTransports());
  if (on('yaml')) plugins.push(noClientNodeYaml());
  return plugins;
}

/** Bytes of JavaScript the `agent` subcommand loads: the entry and the chunks its dynamic imports reach, minus the other subcommands. */
export function agentPathBytes(metafile: Metafile, root = ROOT): number {
  return agentPathFiles(metafile).reduce((sum, f) => sum + statSync(join(root, f)).size, 0);
}

/** The output files (as the metafile names them) the `agent` subcommand loads, the entry first. */
export function agentPathFiles(metafile: Metafile): string[] {
  const outputs = metafile.outputs;
  const entry = Object.keys(outputs).find((f) => f.endsWith('imds-labeler.mjs'))!;
  const seen = new Set<string>();
  const visit = (file: string, dynamic: boolean) => {
    if (seen.has(file)) return;
    const out = outputs[file]!;
    // A dynamic import of another subcommand (render, emulator, sandbox, cleanup, demo) is not on the agent's path.
    if (dynamic && out.entryPoint === undefined && Object.keys(out.inputs).some((i) => /src\/cli\/(render|cleanup)\.ts$/.test(i))) return;
    seen.add(file);
    for (const imp of out.imports) {
      if (imp.external) continue;
      if (imp.kind === 'import-statement') visit(imp.path, false);
      else if (imp.kind === 'dynamic-import' && !isLazyOnly(outputs[imp.path]!)) visit(imp.path, true);
    }
  };
  visit(entry, false);
  return [...seen];
}

/** File name of the script that fills the compile cache (next to the entry in the output directory). */
export const COMPILE_CACHE_SCRIPT = 'compile-cache.mjs';

/**
 * The script the image build runs once, with the runtime image's own node and NODE_OPTIONS, to
 * fill NODE_COMPILE_CACHE with V8's code cache of every module on the agent's path. V8 accepts
 * a code cache only from the same V8 version and flags (--jitless included), so it cannot be made
 * by the build machine's node. Loading a chunk runs only its module-level code (declarations,
 * library set-up); the agent itself is started by the entry, which the script does not load.
 * The cache files are made readable by every user: the image builds them as root and the agent
 * runs as 65532, from a read-only root filesystem.
 */
export function compileCacheScript(chunks: readonly string[]): string {
  return `// Generated by scripts/build.ts: fills NODE_COMPILE_CACHE for the node that runs it (see the Dockerfile).
import module from 'node:module';
import { chmodSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
const dir = module.getCompileCacheDir();
if (!dir) {
  console.error('compile-cache: NODE_COMPILE_CACHE is not set or not usable');
  process.exit(1);
}
for (const chunk of ${JSON.stringify(chunks)}) await import(new URL(chunk, import.meta.url).href);
module.flushCompileCache();
const walk = (d) => {
  chmodSync(d, 0o755);
  for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(join(d, e.name)) : chmodSync(join(d, e.name), 0o644);
};
walk(dir);
console.log(\`compile-cache: \${${JSON.stringify(chunks.length)}} modules cached in \${dir}\`);
`;
}

/** Chunks the agent loads only for optional features (proxies, auth plugins, YAML config files). */
function isLazyOnly(out: Metafile['outputs'][string]): boolean {
  // Node's built-ins (through require) ride along in the chunk that first needs them.
  return Object.keys(out.inputs).every((i) => i.startsWith('builtin-require:') || /node_modules\/(yaml|undici|socks|socks-proxy-agent|hpagent|openid-client|oauth4webapi|jsonpath-plus|rfc4648|agent-base|ip-address|smart-buffer|debug|ms)\/|client-node\/dist\/(oidc|azure|gcp)_auth\.js/.test(i));
}

const inClientNode = (path: string) => path.startsWith(CLIENT_NODE);

/**
 * client-node declares no `sideEffects`, so a bundler keeps every module it reaches. Its modules
 * only declare classes and functions (the File polyfill is for Node 18), so mark them side-effect
 * free and let tree shaking drop whatever the agent does not use.
 */
function sideEffectFree(): Plugin {
  return {
    name: 'client-node-side-effect-free',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'side-effects-resolved' || args.path.includes('?')) return undefined;
        if (!(args.importer && inClientNode(args.importer)) && !args.path.startsWith('@kubernetes/client-node')) return undefined;
        const r = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: 'side-effects-resolved' });
        if (r.errors.length || r.external || !inClientNode(r.path)) return undefined;
        return { path: r.path, sideEffects: false };
      });
    },
  };
}

/**
 * Optional parts of KubeConfig behind a dynamic import, so they land in chunks the agent loads
 * only when a kubeconfig asks for them:
 * - auth-provider plugins `oidc`, `azure` and `gcp` (openid-client, jsonpath-plus): the wrapper
 *   answers isAuthProvider() as the plugin does and loads the plugin on the first request;
 * - what KubeConfig imports for calls the agent never makes: undici (the generated API client's
 *   transport, makeApiClient), the proxy agents and SOCKS client of its own agents (the agent's
 *   transport builds those for a proxy-url, src/kube/clientNode.ts). They throw if called.
 */
function lazyOptionalModules(): Plugin {
  const AUTH = /client-node[\\/]dist[\\/](oidc|azure|gcp)_auth\.js$/;
  return {
    name: 'client-node-lazy-optional',
    setup(b) {
      b.onLoad({ filter: AUTH, namespace: 'file' }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        const cls = /^export class (\w+) \{/m.exec(source)?.[1];
        const provider = /return user\.authProvider\.name === '(\w+)';/.exec(source)?.[1];
        if (!cls || !provider) throw new Error(`build: unexpected layout of ${args.path}; update lazyOptionalModules in scripts/build.ts`);
        const file = JSON.stringify(`./${args.path.split(/[\\/]/).pop()}?real`);
        return {
          resolveDir: dirname(args.path),
          loader: 'js',
          contents: `export class ${cls} {
  #real;
  isAuthProvider(user) { return Boolean(user && user.authProvider && user.authProvider.name === ${JSON.stringify(provider)}); }
  async applyAuthentication(user, opts) {
    this.#real ??= new (await import(${file})).${cls}();
    return this.#real.applyAuthentication(user, opts);
  }
}
`,
        };
      });
      // The real plugin behind the wrapper: the same file in a namespace of its own.
      b.onResolve({ filter: /_auth\.js\?real$/ }, (args) => ({ path: join(args.resolveDir, args.path.replace(/\?real$/, '')), namespace: 'client-node-auth' }));
      b.onLoad({ filter: /.*/, namespace: 'client-node-auth' }, (args) => ({ contents: readFileSync(args.path, 'utf8'), loader: 'js', resolveDir: dirname(args.path) }));

      b.onResolve({ filter: /^(socks|socks-proxy-agent|hpagent|undici)$/ }, (args) => (args.importer && inClientNode(args.importer) ? { path: args.path, namespace: 'client-node-unused' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'client-node-unused' }, (args) => {
        const names: Record<string, string[]> = { socks: ['SocksClient'], 'socks-proxy-agent': ['SocksProxyAgent'], hpagent: ['HttpProxyAgent', 'HttpsProxyAgent'], undici: ['Agent', 'ProxyAgent', 'fetch'] };
        const contents = names[args.path]!.map(
          (name) => `export function ${name}() { throw new Error('imds-labeler: ${args.path} ${name} is not part of this build: the agent sends its requests itself (src/kube/clientNode.ts)'); }`,
        );
        return { contents: contents.join('\n'), loader: 'js' };
      });
    },
  };
}

/**
 * Node's built-in modules through require(), not import. An ES import of a built-in reads every
 * export to build the module namespace, and that runs lazy getters: `node:http`'s WebSocket,
 * CloseEvent and MessageEvent load Node's internal undici (12 MiB), `node:tls`'s
 * rootCertificates parses every root certificate, `node:crypto`'s webcrypto builds WebCrypto.
 * require() returns the same object without touching them.
 *
 * Each built-in becomes an ES module of its own: the require()d object as the default export and
 * one named export per property, read by a pure expression, so tree shaking keeps only the
 * properties the bundle imports and reads nothing else. A CommonJS wrapper would go through
 * esbuild's __toESM, which copies every property of the module at load (20 ms of start-up under
 * --jitless for `node:fs`, `node:util` and the rest, and 1.3 MiB). The names are those of the
 * node that builds the bundle (Node.js 24, as the image); a name missing at run time reads undefined.
 */
function builtinsViaRequire(): Plugin {
  const names = new Set(builtinModules.filter((m) => !m.startsWith('_')));
  const requireBuiltin = createRequire(import.meta.url);
  return {
    name: 'builtins-via-require',
    setup(b) {
      b.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
        const name = args.path.replace(/^node:/, '');
        if (!names.has(name) || args.kind === 'require-call') return undefined;
        return { path: name, namespace: 'builtin-require' };
      });
      b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: builtinModuleSource(args.path, requireBuiltin(`node:${args.path}`) as object), loader: 'js' }));
    },
  };
}

/** The ES module the bundle sees for built-in `name`: its require()d object, one lazy named export per property. */
export function builtinModuleSource(name: string, exports: object): string {
  const keys = Object.getOwnPropertyNames(exports).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
  return [
    `const m = require(${JSON.stringify(`node:${name}`)});`,
    'export default m;',
    // Getters stay unread (and drop out of the bundle) unless an import names them.
    ...keys.map((k, i) => `const e${i} = /* @__PURE__ */ (() => m.${k})();\nexport { e${i} as ${k} };`),
  ].join('\n');
}

/**
 * prom-client's index loads the Pushgateway (http, https, zlib), Summary (tdigest), the cluster
 * aggregator and OpenTelemetry (for exemplars, which the agent does not enable). The bundle
 * imports the parts the agent uses straight from their files; a name the agent starts to use
 * and this list lacks fails the build.
 */
function promClientParts(): Plugin {
  const lib = realpathSync(join(ROOT, 'node_modules/prom-client/lib'));
  const parts: Record<string, string> = { Registry: 'registry.js', Counter: 'counter.js', Gauge: 'gauge.js', Histogram: 'histogram.js', collectDefaultMetrics: 'defaultMetrics.js' };
  return {
    name: 'prom-client-parts',
    setup(b) {
      b.onResolve({ filter: /^prom-client$/ }, (args) => (args.importer.startsWith(join(ROOT, 'src')) ? { path: 'prom-client', namespace: 'prom-client-parts' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'prom-client-parts' }, () => ({
        contents: Object.entries(parts)
          .map(([name, file]) => `import ${name} from ${JSON.stringify(join(lib, file))};\nexport { ${name} };`)
          .join('\n'),
        loader: 'js',
        resolveDir: lib,
      }));
      // Only processCpuTotal's exemplars read the active span; without exemplars there is none.
      b.onResolve({ filter: /^@opentelemetry\/api$/ }, (args) => (args.importer.startsWith(lib) ? { path: 'otel', namespace: 'prom-client-parts-otel' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'prom-client-parts-otel' }, () => ({
        contents: 'module.exports = { trace: { getSpan: () => undefined }, context: { active: () => undefined } };',
        loader: 'js',
      }));
    },
  };
}

/**
 * pino's transports run a worker thread from a file that a bundle does not have; the agent logs
 * to stdout through sonic-boom (and an in-house pretty printer), so thread-stream is left out,
 * and with it the built-ins only it needs (worker_threads, assert).
 */
function pinoWithoutTransports(): Plugin {
  return {
    name: 'pino-without-transports',
    setup(b) {
      const stubs: Record<string, string> = {
        'thread-stream': "module.exports = class ThreadStream { constructor() { throw new Error('pino transports are not part of the imds-labeler bundle; logs go to stdout'); } };",
        // pino asks whether it runs on the main thread; the agent has no other thread.
        worker_threads: 'module.exports = { isMainThread: true };',
        // sonic-boom checks one invariant with assert(); node:assert would load its diff machinery.
        assert: "module.exports = function assert(value, message) { if (!value) throw new Error(message); };",
      };
      b.onResolve({ filter: /^(node:)?(thread-stream|worker_threads|assert)$/ }, (args) =>
        /[\\/](pino|sonic-boom)[\\/]/.test(args.importer) ? { path: args.path.replace(/^node:/, ''), namespace: 'pino-slim' } : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'pino-slim' }, (args) => ({ contents: stubs[args.path]!, loader: 'js' }));
    },
  };
}

/**
 * No YAML parser on the agent's path: the agent reads kubeconfig files with loadKubeConfig
 * (src/kube/clientNode.ts) and its config file with src/config/text.ts, which parse JSON
 * themselves and import yaml only for YAML. client-node's own js-yaml calls (loadFromString,
 * exportConfig) are synchronous and unused; in the bundle they fail with a clear message
 * instead of carrying a second YAML parser.
 */
function noClientNodeYaml(): Plugin {
  return {
    name: 'no-client-node-yaml',
    setup(b) {
      b.onResolve({ filter: /^js-yaml$/ }, (args) => (args.importer && inClientNode(args.importer) ? { path: 'js-yaml', namespace: 'no-yaml' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'no-yaml' }, () => ({
        contents: [
          "const absent = () => { throw new Error('imds-labeler: client-node YAML parsing is not part of this build; kubeconfig files are read by loadKubeConfig'); };",
          'export const load = absent;',
          'export const dump = absent;',
        ].join('\n'),
        loader: 'js',
      }));
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const disable = argv.filter((a) => a.startsWith('--no-')).map((a) => a.slice(5) as Step);
  for (const s of disable) if (!STEPS.includes(s)) throw new Error(`unknown step ${s}; steps: ${STEPS.join(', ')}`);
  const outIndex = argv.indexOf('--outdir');
  const outdir = outIndex === -1 ? undefined : argv[outIndex + 1];
  const r = await buildBundle({ outdir, disable });
  const files = Object.keys(r.metafile.outputs).filter((f) => f.endsWith('.mjs')).length;
  const modules = Object.keys(r.metafile.inputs).length;
  console.log(`${relative(process.cwd(), r.entry)}: ${files} files, ${(r.totalBytes / 1024).toFixed(0)} KiB from ${modules} modules; the agent loads ${(agentPathBytes(r.metafile) / 1024).toFixed(0)} KiB`);
}

if (import.meta.main) await main(process.argv.slice(2));
