import { build } from 'esbuild';
import { statSync } from 'node:fs';

/**
 * The bundle the container image ships: one ESM file with every dependency inlined, so the image
 * needs no node_modules and start-up reads one file. Minified identifiers are kept readable in
 * stack traces through names.
 */
const result = await build({
  entryPoints: ['cmd/imds-labeler.ts'],
  outfile: 'dist/imds-labeler.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifySyntax: true,
  minifyWhitespace: true,
  keepNames: true,
  treeShaking: true,
  legalComments: 'linked',
  metafile: true,
  // Some dependencies still call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
const bytes = statSync('dist/imds-labeler.mjs').size;
console.log(`dist/imds-labeler.mjs ${(bytes / 1024).toFixed(0)} KiB from ${Object.keys(result.metafile.inputs).length} modules`);
