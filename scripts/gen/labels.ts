import { labelReferenceMarkdown } from '../../src/mapping/reference.ts';
import type { GeneratedFile } from '../generated.ts';

/** docs/labels.md: the label and annotation reference, from the table render() uses. */
export default { path: 'docs/labels.md', render: () => labelReferenceMarkdown() } satisfies GeneratedFile;
