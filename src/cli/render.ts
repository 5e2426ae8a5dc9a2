import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { loadConfig } from '../config/load.ts';
import { DocumentError, parseInstanceDocument, type InstanceDocument } from '../imds/document.ts';
import { render } from '../mapping/render.ts';
import type { Command } from './command.ts';
import { UsageError } from './command.ts';
import { sharedFlagsHelp } from './usage.ts';

/** Larger than any IMDS instance document; a guard against piping the wrong file. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

const usage = `Usage: imds-labeler render [--file FILE] [flags]

Prints the labels and annotations an IMDS instance document maps to, with the current label
flags and config, as sorted JSON: {"labels":{..},"annotations":{..},"skipped":[{"tag":..,"reason":..}]}
plus "problems":[{"key":..,"field":..,"reason":..,"message":..}] when a value IMDS sent cannot
be written. Nothing is fetched and nothing is written.

The document is the JSON of GET /metadata/instance (or of /metadata/instance/compute alone),
read from FILE, or from standard input when FILE is "-" or not given.

  curl -s -H Metadata:true --noproxy '*' \\
    'http://169.254.169.254/metadata/instance?api-version=2025-04-07' | imds-labeler render

Exit status: 0 on success, 2 when the input is not JSON or not an instance document, or on a
bad flag or config.

Flags:
  --file FILE   the instance document (default: standard input)
${sharedFlagsHelp('render')}
`;

/** One-line errors about the input: printed without a stack, exit 2. */
class InputError extends Error {}

export const renderCommand: Command = {
  name: 'render',
  summary: 'print the labels and annotations an IMDS document maps to',
  usage,
  async run(argv, io) {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout.write(usage);
      return 0;
    }
    const { config, positionals, flags } = await loadConfig({ argv, env: io.env }, { command: 'render', own: { file: { type: 'string' } } });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (the document is given with --file or on stdin)`);
    const file = flags.file as string | undefined;
    try {
      const text = file === undefined || file === '-' ? await readStdin(io.stdin) : await readInputFile(file);
      const doc = toDocument(text, file === undefined || file === '-' ? 'standard input' : file);
      const desired = render(doc, config.labels);
      const output: Record<string, unknown> = { labels: desired.labels, annotations: desired.annotations, skipped: desired.skipped };
      if (desired.problems?.length) output.problems = desired.problems;
      io.stdout.write(`${JSON.stringify(sortKeysDeep(output), null, 2)}\n`);
      return 0;
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      io.stderr.write(`imds-labeler render: ${err.message}\n`);
      return 2;
    }
  },
};

async function readInputFile(path: string): Promise<string> {
  try {
    const buffer = await readFile(path);
    if (buffer.length > MAX_INPUT_BYTES) throw new InputError(`${path} is larger than ${MAX_INPUT_BYTES} bytes: not an instance document`);
    return buffer.toString('utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function readStdin(stdin: Readable): Promise<string> {
  if ((stdin as Readable & { isTTY?: boolean }).isTTY) throw new InputError('no document: pass --file FILE or pipe the JSON of /metadata/instance on standard input');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) throw new InputError(`standard input is larger than ${MAX_INPUT_BYTES} bytes: not an instance document`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON → InstanceDocument; a bare compute object (from /metadata/instance/compute) is accepted too. */
function toDocument(text: string, origin: string): InstanceDocument {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    const detail = text.trim() === '' ? 'it is empty' : oneLine((err as Error).message);
    throw new InputError(`${origin} is not JSON: ${detail}`);
  }
  if (isObject(json) && !Object.keys(json).some((k) => k.toLowerCase() === 'compute') && !looksLikeBareCompute(json)) {
    throw new InputError(`${origin} is not an IMDS instance document: it has no "compute" object (expected the JSON of /metadata/instance)`);
  }
  try {
    return parseInstanceDocument(looksLikeBareCompute(json) ? { compute: json } : json);
  } catch (err) {
    if (err instanceof DocumentError) throw new InputError(`${origin}: ${oneLine(err.message)}`);
    throw err;
  }
}

/** Messages quote the input, which may hold line breaks: the error stays on one line. */
const oneLine = (message: string) => message.replace(/\s+/g, ' ').trim();

const COMPUTE_MARKERS = new Set(['vmid', 'vmsize', 'location', 'azenvironment', 'platformfaultdomain']);

const isObject = (json: unknown): json is Record<string, unknown> => typeof json === 'object' && json !== null && !Array.isArray(json);

function looksLikeBareCompute(json: unknown): boolean {
  if (!isObject(json)) return false;
  const keys = Object.keys(json).map((k) => k.toLowerCase());
  return !keys.includes('compute') && keys.some((k) => COMPUTE_MARKERS.has(k));
}

/** Object keys sorted at every depth, in code-unit order; arrays keep their order. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((k) => [k, sortKeysDeep((value as Record<string, unknown>)[k])]),
  );
}
