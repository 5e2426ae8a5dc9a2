import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT, generatedFiles } from './generated.ts';

for (const file of await generatedFiles()) {
  const target = join(ROOT, file.path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, await file.render());
  console.log(`generated ${file.path}`);
}
