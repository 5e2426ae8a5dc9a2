import type { Extra } from '../config/schema.ts';
import type { Compute } from '../imds/document.ts';
import { DEFAULT_PREFIX, defaultTagPrefix, RESERVED_DOMAINS, WELL_KNOWN, type Prefixes } from '../keys/keys.ts';
import type { ProblemReason, SkipReason } from './desired.ts';
import { TAGS_ANNOTATION_MAX_BYTES } from './tags.ts';

/**
 * The one table of every label and annotation the product writes. render() takes the keys and
 * the value of each field label from it, and docs/labels.md is generated from it, so the
 * reference cannot drift from the code.
 */

/** What switches an entry on: always, an item of `labels.extras`, or `labels.wellKnown`. */
export type Gate = 'always' | Extra | 'wellKnown';

interface EntryBase {
  /** `<prefix>` and `<tagPrefix>` stand for the configured prefixes; well-known keys are literal. */
  key: string;
  gate: Gate;
  /** The IMDS fields the value comes from. */
  source: string;
  /** The api-version that introduced the source field. */
  since: string;
  /** What the value is, for the reference. */
  meaning: string;
  example: string;
}

/** A label whose value is a function of the compute document alone. */
export interface FieldLabel extends EntryBase {
  kind: 'label';
  /** undefined: the label is absent (IMDS sent "" or nothing). Validated by render(). */
  value: (compute: Compute) => string | undefined;
}

/** Tag labels and annotations: computed by the tag mapping, described here. */
export interface DerivedEntry extends EntryBase {
  kind: 'tag-label' | 'annotation';
}

export type ReferenceEntry = FieldLabel | DerivedEntry;

export const AZURE_ENVIRONMENTS = ['AzurePublicCloud', 'AzureUSGovernmentCloud', 'AzureChinaCloud', 'AzureGermanCloud'] as const;

/** The canonical spelling of a known environment, matched ignoring ASCII case; others as they are. */
export function canonicalEnvironment(raw: string): string {
  const lower = raw.toLowerCase();
  return AZURE_ENVIRONMENTS.find((e) => e.toLowerCase() === lower) ?? raw;
}

/** The last segment of a resource id: the host group's or host's name. */
export const lastSegment = (id: string | undefined): string | undefined => id?.split('/').filter(Boolean).at(-1);

const text = (n: number | undefined) => (n === undefined ? undefined : String(n));
const bool = (b: boolean | undefined) => (b === undefined ? undefined : String(b));
const lower = (s: string | undefined) => s?.toLowerCase();

/** cloud-provider-azure's zone: `<region>-<zone>` for zonal VMs, else the fault domain ("0"). */
function topologyZone(c: Compute): string | undefined {
  if (c.zone !== undefined) return c.location === undefined ? undefined : `${c.location.toLowerCase()}-${c.zone}`;
  return text(c.platformFaultDomain);
}

export const REFERENCE: readonly ReferenceEntry[] = [
  {
    kind: 'label', key: '<prefix>/fault-domain', gate: 'always', source: 'compute.platformFaultDomain', since: '2017-04-02', example: '0',
    meaning: 'Platform fault domain. The number is unique only within the VM\'s availability set or scale-set placement group (compute.placementGroupId); scale sets with a fault-domain count of 1 say 0 on every node.',
    value: (c) => text(c.platformFaultDomain),
  },
  {
    kind: 'label', key: '<prefix>/update-domain', gate: 'always', source: 'compute.platformUpdateDomain', since: '2017-04-02', example: '3',
    meaning: 'Platform update domain: VMs in different update domains are not rebooted together for planned maintenance.',
    value: (c) => text(c.platformUpdateDomain),
  },
  {
    kind: 'label', key: '<prefix>/zone', gate: 'always', source: 'compute.zone', since: '2017-12-01', example: '2',
    meaning: 'Availability zone, as IMDS sends it (1, 2 or 3). Absent on regional (non-zonal) VMs.',
    value: (c) => c.zone,
  },
  {
    kind: 'label', key: '<prefix>/region', gate: 'always', source: 'compute.location', since: '2017-04-02', example: 'westeurope',
    meaning: 'Azure region, lower-cased.',
    value: (c) => lower(c.location),
  },
  {
    kind: 'label', key: '<prefix>/vm-size', gate: 'always', source: 'compute.vmSize', since: '2017-04-02', example: 'Standard_D4s_v5',
    meaning: 'VM size, as IMDS sends it. Unlike node.kubernetes.io/instance-type it follows a resize.',
    value: (c) => c.vmSize,
  },
  {
    kind: 'label', key: '<prefix>/environment', gate: 'always', source: 'compute.azEnvironment', since: '2018-10-01', example: 'AzurePublicCloud',
    meaning: `Azure cloud. Known clouds are matched ignoring case and written in one spelling (${AZURE_ENVIRONMENTS.join(', ')}), so AZUREPUBLICCLOUD becomes AzurePublicCloud; any other value is written as it is.`,
    value: (c) => (c.azEnvironment === undefined ? undefined : canonicalEnvironment(c.azEnvironment)),
  },
  {
    kind: 'label', key: '<prefix>/priority', gate: 'spot', source: 'compute.priority', since: '2020-12-01', example: 'Spot',
    meaning: 'VM priority as IMDS sends it: Regular, Low or Spot.',
    value: (c) => c.priority,
  },
  {
    kind: 'label', key: '<prefix>/eviction-policy', gate: 'spot', source: 'compute.evictionPolicy', since: '2020-12-01', example: 'Delete',
    meaning: 'What happens to a Spot VM on eviction: Deallocate or Delete. Absent on regular VMs.',
    value: (c) => c.evictionPolicy,
  },
  {
    kind: 'label', key: '<prefix>/security-type', gate: 'security', source: 'compute.securityProfile.securityType', since: '2021-12-13', example: 'TrustedLaunch',
    meaning: 'Security type as IMDS sends it, such as TrustedLaunch or ConfidentialVM.',
    value: (c) => c.securityProfile?.securityType,
  },
  {
    kind: 'label', key: '<prefix>/secure-boot', gate: 'security', source: 'compute.securityProfile.secureBootEnabled', since: '2020-06-01', example: 'true',
    meaning: 'UEFI Secure Boot enabled: true or false.',
    value: (c) => bool(c.securityProfile?.secureBootEnabled),
  },
  {
    kind: 'label', key: '<prefix>/vtpm', gate: 'security', source: 'compute.securityProfile.virtualTpmEnabled', since: '2020-06-01', example: 'true',
    meaning: 'Virtual TPM enabled: true or false.',
    value: (c) => bool(c.securityProfile?.virtualTpmEnabled),
  },
  {
    kind: 'label', key: '<prefix>/encryption-at-host', gate: 'security', source: 'compute.securityProfile.encryptionAtHost', since: '2021-11-01', example: 'false',
    meaning: 'Encryption at host enabled: true or false.',
    value: (c) => bool(c.securityProfile?.encryptionAtHost),
  },
  {
    kind: 'label', key: '<prefix>/physical-zone', gate: 'physicalZone', source: 'compute.physicalZone', since: '2023-11-15', example: 'useast-AZ01',
    meaning: 'Physical availability zone behind the logical zone; logical zone numbers differ between subscriptions, physical zones do not.',
    value: (c) => c.physicalZone,
  },
  {
    kind: 'label', key: '<prefix>/sub-fault-domain', gate: 'subFaultDomain', source: 'compute.platformSubFaultDomain', since: '2021-10-01', example: '1',
    meaning: 'Platform sub fault domain, where IMDS reports one.',
    value: (c) => text(c.platformSubFaultDomain),
  },
  {
    kind: 'label', key: '<prefix>/os-type', gate: 'osType', source: 'compute.osType', since: '2017-04-02', example: 'linux',
    meaning: 'Operating system type, lower-cased (IMDS sends both Linux and linux).',
    value: (c) => lower(c.osType),
  },
  {
    kind: 'label', key: '<prefix>/host-group', gate: 'hostGroup', source: 'compute.hostGroup.id', since: '2021-11-15', example: 'my-host-group',
    meaning: 'Name of the dedicated host group (the last segment of its resource id). Absent on VMs not in a host group.',
    value: (c) => lastSegment(c.hostGroup?.id),
  },
  {
    kind: 'label', key: '<prefix>/dedicated-host', gate: 'hostGroup', source: 'compute.host.id', since: '2021-11-15', example: 'host-1',
    meaning: 'Name of the dedicated host (the last segment of its resource id), unique within its host group. Absent on VMs not on a dedicated host.',
    value: (c) => lastSegment(c.host?.id),
  },
  {
    kind: 'label', key: WELL_KNOWN.zone, gate: 'wellKnown', source: 'compute.location, compute.zone, compute.platformFaultDomain', since: '2017-12-01', example: 'westeurope-2',
    meaning: 'As cloud-provider-azure writes it: `<region>-<zone>` on zonal VMs, the bare fault domain (such as 0) on regional VMs. For clusters without a cloud provider.',
    value: topologyZone,
  },
  {
    kind: 'label', key: WELL_KNOWN.region, gate: 'wellKnown', source: 'compute.location', since: '2017-04-02', example: 'westeurope',
    meaning: 'Azure region, lower-cased, as cloud-provider-azure writes it.',
    value: (c) => lower(c.location),
  },
  {
    kind: 'label', key: WELL_KNOWN.instanceType, gate: 'wellKnown', source: 'compute.vmSize', since: '2017-04-02', example: 'Standard_D4s_v5',
    meaning: 'VM size, as cloud-provider-azure writes it; kept current after a resize.',
    value: (c) => c.vmSize,
  },
  {
    kind: 'tag-label', key: '<tagPrefix>/<tag name>', gate: 'always', source: 'compute.tagsList (else compute.tags)', since: '2019-06-04 (2017-08-01)', example: 'tags.imds-labeler.io/team: payments',
    meaning: 'One label per VM tag that passes `labels.tags.include`/`exclude` and whose name and value are valid label parts as they are. See the rules below.',
  },
  {
    kind: 'annotation', key: '<prefix>/tags', gate: 'always', source: 'compute.tagsList (else compute.tags)', since: '2019-06-04 (2017-08-01)', example: '[{"name":"cost center","value":"R&D 42"}]',
    meaning: `Every tag that passes the include/exclude filter, labeled or not, as compact JSON \`[{"name":..,"value":..}]\` sorted by name, then value. Absent when no tag passes. At most ${TAGS_ANNOTATION_MAX_BYTES} bytes.`,
  },
  {
    kind: 'annotation', key: '<prefix>/tags-omitted', gate: 'always', source: 'compute.tagsList (else compute.tags)', since: '2019-06-04 (2017-08-01)', example: '3',
    meaning: `How many tags were left out of \`<prefix>/tags\` to keep it under ${TAGS_ANNOTATION_MAX_BYTES} bytes. Absent when none were.`,
  },
];

export const FIELD_LABELS: readonly FieldLabel[] = REFERENCE.filter((e): e is FieldLabel => e.kind === 'label');

export const TAGS_ANNOTATION = '<prefix>/tags';
export const TAGS_OMITTED_ANNOTATION = '<prefix>/tags-omitted';

/** Fills `<prefix>` and `<tagPrefix>` into a key template. */
export const resolveKey = (template: string, prefixes: Prefixes): string =>
  template.replace('<tagPrefix>', prefixes.tagPrefix).replace('<prefix>', prefixes.prefix);

export const SKIP_REASONS: Readonly<Record<SkipReason, string>> = {
  excluded: 'The name matches no `include` pattern, or matches an `exclude` pattern. The tag is in neither the labels nor the annotation.',
  'invalid-name': 'The name is empty, or holds a character a label name may not: anything but ASCII letters, digits, `-`, `_` and `.` (so spaces, `/`, `:`, `=`, non-ASCII), or starts or ends with `-`, `_` or `.`.',
  'name-too-long': 'The name is made of allowed characters but is longer than 63.',
  'reserved-name': 'The tag\'s label key is one the product uses for an IMDS field (possible only when the tag prefix equals the label prefix).',
  'duplicate-name': 'Another tag has the same name ignoring case. Azure compares tag names ignoring case, so which one is meant is unclear: none of them becomes a label.',
  'invalid-value': 'The value holds a character a label value may not, or starts or ends with `-`, `_` or `.`. An empty value is valid.',
  'value-too-long': 'The value is made of allowed characters but is longer than 63.',
};

export const PROBLEM_REASONS: Readonly<Record<ProblemReason, string>> = {
  'invalid-value': 'IMDS sent a value that is not a valid label value (such as `West Europe` for a location). Not rewritten: the label keeps its last good value.',
  'value-too-long': 'IMDS sent a value longer than 63 characters. Not shortened: the label keeps its last good value.',
  'annotation-too-large': `The tags do not fit in \`<prefix>/tags\` (${TAGS_ANNOTATION_MAX_BYTES} bytes): some are left out of it and counted in \`<prefix>/tags-omitted\`.`,
};

const GATE_TEXT = (gate: Gate) =>
  gate === 'always' ? 'always' : gate === 'wellKnown' ? '`wellKnown: true` (`--well-known-labels`)' : `\`extras: [${gate}]\` (\`--extras ${gate}\`)`;

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');

/** docs/labels.md. */
export function labelReferenceMarkdown(): string {
  const row = (e: ReferenceEntry) => [`\`${e.key}\``, GATE_TEXT(e.gate), `\`${e.source}\``, e.since, `${e.meaning} Example: \`${e.example}\``];
  const head = ['Key', 'Written', 'IMDS field', 'Since api-version', 'Value'];
  return `<!-- Generated from src/mapping/reference.ts by scripts/gen/labels.ts: run "npm run generate", do not edit. -->
# Labels and annotations

Every key is under the configured prefixes, except the well-known keys you opt in to.
\`<prefix>\` is \`labels.prefix\` (\`--label-prefix\`, default \`${DEFAULT_PREFIX}\`) and
\`<tagPrefix>\` is \`labels.tagPrefix\` (\`--tag-prefix\`, default \`${defaultTagPrefix('<prefix>')}\`).
The agent never writes under ${RESERVED_DOMAINS.map((d) => `\`${d}\``).join(', ').replace(/, ([^,]*)$/, ' or $1')}, except the
three well-known keys below, and only with \`labels.wellKnown\`.

IMDS sends every value as a string and \`""\` for a missing one: a missing value means the label is
absent, never empty. Every value is checked against Kubernetes' rules (at most 63 characters of
\`[A-Za-z0-9._-]\`, starting and ending with a letter or digit). A field value that fails (a zone
\`"1 "\`, a location \`West Europe\`, a vmSize with a space) is never rewritten and never removes the
label: the label keeps the last good value the agent wrote (or stays absent if it never had one)
until IMDS sends a valid value again. It is reported as a problem: one warning in the agent's log
per change, naming the key, the IMDS field and the reason (never the value), the
\`imds_labeler_mapping_problems\` gauge, and \`imds-labeler render\`. Tags differ: a tag whose value
is not a valid label value is not labeled (below), and a label written for its earlier value is
removed, because the tag's owner changed it.

An answer without \`compute.vmSize\` or \`compute.location\` (such as \`{"compute":{}}\`), or nested
deeper than any instance document, is no instance document: the labels stay as they are, and it
is counted in \`imds_labeler_imds_invalid_documents_total\`.

## Ownership

The keys the agent wrote are listed on the node in \`<prefix>/owned-labels\` and
\`<prefix>/owned-annotations\`; only those keys are the agent's. A key under its prefixes that the
record does not name belongs to whoever set it: the agent never overwrites or removes it, and
counts it in \`imds_labeler_label_conflicts\` when it would have written another value. A recorded
key the agent no longer wants is removed, whatever the current config would write (a well-known
key after \`labels.wellKnown\` is turned off), and only then dropped from the record; \`cleanup\`
(the chart's uninstall hook) removes every recorded key. A recorded key outside the prefixes and
the well-known keys (a forged record) is left alone.

## Labels from IMDS fields

${table(head, FIELD_LABELS.map(row))}

## Tag labels

${table(head, REFERENCE.filter((e) => e.kind === 'tag-label').map(row))}

- Tags come from \`tagsList\`. Only when IMDS does not send it (api-versions before 2019-06-04) does
  the agent parse the legacy \`tags\` string \`"k1:v1;k2:v2"\`: split on \`;\`, then on the first \`:\`.
  That format cannot carry \`;\` in a name or value, nor \`:\` in a name.
- \`labels.tags.include\` and \`labels.tags.exclude\` are globs on the tag name: \`*\` is any run of
  characters, \`?\` exactly one. They match ignoring case, as Azure compares tag names. A tag is
  mapped when it matches an include pattern and no exclude pattern.
- A tag becomes \`<tagPrefix>/<name>\` with its value only when both are valid as they are. Nothing
  is sanitized: \`cost center\` does not become \`cost-center\`. The other tags are still in the
  \`<prefix>/tags\` annotation, and \`imds-labeler render\` lists each with the reason:

${table(['Reason', 'Meaning'], Object.entries(SKIP_REASONS).map(([r, m]) => [`\`${r}\``, m]))}

A tag gets one reason, the first that applies in the order: excluded, invalid-name or name-too-long,
reserved-name, duplicate-name, invalid-value or value-too-long.

## Annotations

${table(head, REFERENCE.filter((e) => e.kind === 'annotation').map(row))}

## Problems

${table(['Reason', 'Meaning'], Object.entries(PROBLEM_REASONS).map(([r, m]) => [`\`${r}\``, m]))}
`;
}
