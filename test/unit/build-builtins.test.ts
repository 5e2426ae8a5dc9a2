import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bundlePlugins } from '../../scripts/build.ts';

/** Bundles `source` with the image's plugins and returns the JavaScript, in memory. */
async function bundle(source: string): Promise<string> {
  const r = await build({
    stdin: { contents: source, loader: 'ts', resolveDir: process.cwd() },
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minifySyntax: true,
    plugins: bundlePlugins(),
    logLevel: 'silent',
  });
  return r.outputFiles[0]!.text;
}

describe('built-in modules in the bundle', () => {
  it.each([
    ['a named import', "import { readFileSync } from 'node:fs'; console.log(readFileSync);", ['.readFileSync'], ['.writeFileSync', '.promises']],
    ['a getter, only when imported', "import { promises } from 'node:fs'; console.log(promises);", ['.promises'], ['.readFileSync']],
    ['a default import', "import http from 'node:http'; console.log(http.request);", ['"node:http"'], ['.WebSocket', '.createServer']],
    ['a namespace import read by name', "import * as tls from 'node:tls'; console.log(tls.connect);", ['.connect'], ['.rootCertificates']],
  ])('%s reads only the properties the code names', async (_, source, present, absent) => {
    const js = await bundle(source);
    for (const s of present) expect(js).toContain(s);
    for (const s of absent) expect(js).not.toContain(s);
  });

  it("never goes through esbuild's CommonJS interop, which copies every property", async () => {
    const js = await bundle("import { readFileSync } from 'node:fs'; import { inspect } from 'node:util'; import { EventEmitter } from 'node:events'; console.log(readFileSync, inspect, EventEmitter);");
    expect(js).not.toContain('__toESM');
    expect(js).not.toContain('__commonJS');
  });
});
