import * as z from 'zod';
import { AgentError } from '../agentError.ts';

/**
 * The instance document as the product understands it. IMDS sends every primitive as a string
 * and "" for a missing value; inside, missing is undefined and numbers and booleans are typed.
 * Key case is not guaranteed on the wire (one official sample spells "Priority"), so keys are
 * matched case-insensitively. Unknown fields are ignored: IMDS adds fields with every version.
 */

/** "" and null mean absent, as in IMDS. */
const absent = (v: unknown) => v === '' || v === null || v === undefined;

const text = z.preprocess((v) => (absent(v) ? undefined : v), z.string().optional());

const wholeNumber = z.preprocess(
  (v) => (absent(v) ? undefined : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  z.number({ error: 'expected a whole number as a string, such as "2"' }).int().nonnegative().optional(),
);

const flag = z.preprocess(
  (v) => (absent(v) ? undefined : typeof v === 'string' ? ({ true: true, false: false } as Record<string, boolean>)[v.toLowerCase()] ?? v : v),
  z.boolean({ error: 'expected "true" or "false"' }).optional(),
);

const tag = z.object({ name: z.string(), value: z.preprocess((v) => (v == null ? '' : v), z.string()) });

const resourceRef = z.object({ id: text }).partial().optional();

const compute = z.object({
  azEnvironment: text,
  location: text,
  name: text,
  vmId: text,
  vmSize: text,
  zone: text,
  physicalZone: text,
  platformFaultDomain: wholeNumber,
  platformUpdateDomain: wholeNumber,
  platformSubFaultDomain: wholeNumber,
  placementGroupId: text,
  vmScaleSetName: text,
  priority: text,
  evictionPolicy: text,
  osType: text,
  tags: text,
  tagsList: z.preprocess((v) => (absent(v) ? undefined : v), z.array(tag).optional()),
  securityProfile: z
    .object({ secureBootEnabled: flag, virtualTpmEnabled: flag, encryptionAtHost: flag, securityType: text })
    .partial()
    .optional(),
  host: resourceRef,
  hostGroup: resourceRef,
});

export const instanceDocumentSchema = z.object({
  compute,
  network: z.unknown().optional(),
});

/**
 * `apiVersion` is the api-version that answered, set by the client (IMDS does not send it): a
 * field newer than it is unknown, not absent, and its label is kept as it is.
 */
export type InstanceDocument = z.output<typeof instanceDocumentSchema> & { apiVersion?: string };
export type Compute = InstanceDocument['compute'];
export type Tag = z.output<typeof tag>;

const CANONICAL_KEYS = new Map(
  [
    ...Object.keys(compute.shape),
    'compute', 'network', 'name', 'value', 'id',
    'secureBootEnabled', 'virtualTpmEnabled', 'encryptionAtHost', 'securityType',
  ].map((k) => [k.toLowerCase(), k]),
);

/**
 * Sections kept as they are: the agent reads nothing under `network`, and on a node with many
 * addresses (Azure CNI gives each pod one) it is most of the document, so copying it on every
 * poll would be the largest cost of a poll.
 */
const NOT_READ = new Set(['network']);

/**
 * Deeper than any IMDS document nests (compute.securityProfile.x is four levels): a deeper answer
 * is garbage, and stopping here keeps a hostile one from overflowing the stack.
 */
export const MAX_DEPTH = 32;

/** Rewrites keys we know to their canonical spelling, at any depth; leaves the rest alone. Throws DocumentError past MAX_DEPTH. */
export function canonicalizeKeys(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) throw new DocumentError([`nested deeper than ${MAX_DEPTH} levels`], 'too-deep');
  if (Array.isArray(value)) return value.map((v) => canonicalizeKeys(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    const canonical = CANONICAL_KEYS.get(key.toLowerCase()) ?? key;
    // Exact spelling wins over a case variant when both are present.
    if (canonical in out && key !== canonical) continue;
    out[canonical] = NOT_READ.has(canonical) ? child : canonicalizeKeys(child, depth + 1);
  }
  return out;
}

/**
 * Why an answer is not an instance document: it fails the schema, it lacks a field every VM has,
 * or it nests deeper than any document does. A bounded set: it is a metric label.
 */
export type DocumentProblem = 'schema' | 'missing-fields' | 'too-deep';

/** Every reason an instance answer is refused (the `reason` label of imds_invalid_documents_total). */
export const INVALID_DOCUMENT_REASONS = ['not-json', 'html', 'schema', 'missing-fields', 'too-deep'] as const satisfies readonly (DocumentProblem | 'html' | 'not-json')[];

export class DocumentError extends AgentError<'schema'> {
  readonly kind = 'schema';
  /** The same document will fail the same way: never retried. */
  readonly retryable = false;
  readonly issues: string[];
  readonly reason: DocumentProblem;
  constructor(issues: string[], reason: DocumentProblem = 'schema') {
    super(`not an IMDS instance document: ${issues.join('; ')}`);
    this.name = 'DocumentError';
    this.issues = issues;
    this.reason = reason;
  }
}

/**
 * Fields every VM's document carries, in every api-version: an answer without them (such as
 * `{"compute":{}}`) is an empty or broken answer, not a VM without a size, and must not strip the
 * node's labels. vmId is not among them: the contract's own regional sample has none.
 */
const REQUIRED: readonly (keyof Compute)[] = ['location', 'vmSize'];

/** Parses a decoded JSON value into an InstanceDocument, or throws DocumentError. */
export function parseInstanceDocument(json: unknown): InstanceDocument {
  const result = instanceDocumentSchema.safeParse(canonicalizeKeys(json));
  if (!result.success) throw new DocumentError(result.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`));
  const missing = REQUIRED.filter((field) => result.data.compute[field] === undefined);
  if (missing.length) throw new DocumentError(missing.map((field) => `compute.${field}: missing or empty, and every VM has it`), 'missing-fields');
  return result.data;
}
