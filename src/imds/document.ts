import { AgentError } from '../agentError.ts';
import { absentTo, booleanText, Issues, object, optional, readArray, required, text, wholeNumberText, type Reader } from './wire.ts';

/**
 * The instance document as the product understands it. IMDS sends every primitive as a string
 * and "" for a missing value; inside, missing is undefined and numbers and booleans are typed.
 * Key case is not guaranteed on the wire (one official sample spells "Priority"), so keys are
 * matched case-insensitively. Unknown fields are ignored: IMDS adds fields with every version.
 */

export interface Tag {
  name: string;
  value: string;
}

export interface ResourceRef {
  id?: string | undefined;
}

export interface SecurityProfile {
  secureBootEnabled?: boolean | undefined;
  virtualTpmEnabled?: boolean | undefined;
  encryptionAtHost?: boolean | undefined;
  securityType?: string | undefined;
}

export interface Compute {
  azEnvironment?: string | undefined;
  location?: string | undefined;
  name?: string | undefined;
  vmId?: string | undefined;
  vmSize?: string | undefined;
  zone?: string | undefined;
  physicalZone?: string | undefined;
  platformFaultDomain?: number | undefined;
  platformUpdateDomain?: number | undefined;
  platformSubFaultDomain?: number | undefined;
  placementGroupId?: string | undefined;
  vmScaleSetName?: string | undefined;
  priority?: string | undefined;
  evictionPolicy?: string | undefined;
  osType?: string | undefined;
  tags?: string | undefined;
  tagsList?: Tag[] | undefined;
  securityProfile?: SecurityProfile | undefined;
  host?: ResourceRef | undefined;
  hostGroup?: ResourceRef | undefined;
}

/**
 * `apiVersion` is the api-version that answered, set by the client (IMDS does not send it): a
 * field newer than it is unknown, not absent, and its label is kept as it is.
 */
export interface InstanceDocument {
  compute: Compute;
  network?: unknown;
  apiVersion?: string;
}

/** "" and null mean absent, as in IMDS. */
const maybeText = optional(absentTo(undefined, text));
const wholeNumber = optional(absentTo(undefined, wholeNumberText('expected a whole number as a string, such as "2"')));
const flag = optional(absentTo(undefined, booleanText('expected "true" or "false"')));

const tag: Reader<Tag> = object({ name: required(text), value: required((v, path, issues) => text(v ?? '', path, issues)) });
const resourceRef = optional(object<ResourceRef>({ id: maybeText }));

/** The fields of `compute` and how each is read (every one may be missing). */
const COMPUTE_FIELDS = {
  azEnvironment: maybeText,
  location: maybeText,
  name: maybeText,
  vmId: maybeText,
  vmSize: maybeText,
  zone: maybeText,
  physicalZone: maybeText,
  platformFaultDomain: wholeNumber,
  platformUpdateDomain: wholeNumber,
  platformSubFaultDomain: wholeNumber,
  placementGroupId: maybeText,
  vmScaleSetName: maybeText,
  priority: maybeText,
  evictionPolicy: maybeText,
  osType: maybeText,
  tags: maybeText,
  tagsList: optional(absentTo(undefined, readArray(tag))),
  securityProfile: optional(object<SecurityProfile>({ secureBootEnabled: flag, virtualTpmEnabled: flag, encryptionAtHost: flag, securityType: maybeText })),
  host: resourceRef,
  hostGroup: resourceRef,
};

const instanceDocument = object<Omit<InstanceDocument, 'apiVersion'>>({
  compute: required(object<Compute>(COMPUTE_FIELDS)),
  network: optional((v) => v),
});

/** Reads a document whose keys are already canonical: the document, and the problems found, each "path: message". */
export function readInstanceDocument(json: unknown): { document: InstanceDocument; issues: string[] } {
  const issues = new Issues();
  const document: InstanceDocument = instanceDocument(json, [], issues);
  return { document, issues: issues.list.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`) };
}

const CANONICAL_KEYS = new Map(
  [
    ...Object.keys(COMPUTE_FIELDS),
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
  const { document, issues } = readInstanceDocument(canonicalizeKeys(json));
  if (issues.length) throw new DocumentError(issues);
  const missing = REQUIRED.filter((field) => document.compute[field] === undefined);
  if (missing.length) throw new DocumentError(missing.map((field) => `compute.${field}: missing or empty, and every VM has it`), 'missing-fields');
  return document;
}
