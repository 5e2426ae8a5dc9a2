import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/agentProcess.ts';

/**
 * A test that needs a missing tool fails with what to install; none is ever skipped, left as a
 * todo or run only on some machines. The forms vitest has for that, wherever they appear in test/.
 */
const SKIPPING = /\b(?:it|test|describe|suite|bench)\s*\.\s*(?:skip|skipIf|runIf|todo|only)\b|\bctx\s*\.\s*skip\s*\(|\.\s*skip\s*\(\s*\)/;

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('the suite skips nothing', () => {
  it.each([
    ['it.skip', "it.skip('x', () => {});"],
    ['describe.skipIf', 'describe.skipIf(!tool)("x", () => {});'],
    ['it.runIf', 'it.runIf(process.env.CI)("x", () => {});'],
    ['it.todo', "it.todo('x');"],
    ['it.only', "it.only('x', () => {});"],
    ['a context skip', 'async (ctx) => { ctx.skip(); }'],
  ])('the check sees %s', (_name, code) => {
    expect(SKIPPING.test(code)).toBe(true);
  });

  it('and is not fooled by words that only look alike', () => {
    for (const code of ["const skipped = clock.skippedMs;", "expect(desired.skipped).toEqual([]);", "// it skips nothing"]) expect(SKIPPING.test(code)).toBe(false);
  });

  it('no file under test/ skips, todos or narrows a test', () => {
    const offenders = testFiles(join(ROOT, 'test'))
      .filter((f) => !f.endsWith('no-skips.test.ts'))
      .flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => [f, i + 1, line] as const))
      .filter(([, , line]) => SKIPPING.test(line))
      .map(([f, n, line]) => `${relative(ROOT, f)}:${n}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });
});
