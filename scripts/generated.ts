import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Every generated file in the repository comes from a module in scripts/gen/ whose default export
 * is one output or a list of them. `npm run generate` writes them; a test fails when a checked-in
 * copy differs from what its generator makes now.
 */
export interface GeneratedFile {
  /** Path relative to the repository root. */
  path: string;
  render(): string | Promise<string>;
  /** External tools render() runs (installed by scripts/install-tools.sh); none for most. */
  tools?: readonly 'helm'[];
  /** Read by other generators (the chart's values): `npm run generate` writes it first. */
  feedsOthers?: boolean;
}

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function generatedFiles(): Promise<GeneratedFile[]> {
  const dir = new URL('./gen/', import.meta.url);
  const modules = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  const files: GeneratedFile[] = [];
  for (const name of modules) {
    const mod = (await import(new URL(name, dir).href)) as { default: GeneratedFile | GeneratedFile[] };
    files.push(...[mod.default].flat());
  }
  // Stable: the order within each group stays the modules' order.
  return files.sort((a, b) => Number(b.feedsOthers ?? false) - Number(a.feedsOthers ?? false));
}
