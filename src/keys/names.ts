/**
 * Kubernetes' own rules for names, label keys and label values
 * (k8s.io/apimachinery/pkg/util/validation), with the API server's messages word for word. The
 * agent uses them so that nothing it writes is refused; the kube sandbox uses the same functions
 * as its stand-in for the API server's validation, so the two cannot drift apart.
 *
 * - Qualified name (label or annotation key): optional prefix + "/" + name. The prefix is a
 *   lowercase DNS subdomain of at most 253 characters; the name is at most 63 characters of
 *   `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
 * - Label value: at most 63 characters of the same pattern, or empty.
 *
 * The patterns are ASCII-only, so every valid string has as many bytes as characters, and the
 * lengths here agree with the API server's byte counts.
 */

export const LABEL_NAME_MAX_LENGTH = 63;
export const LABEL_VALUE_MAX_LENGTH = 63;
export const DNS_SUBDOMAIN_MAX_LENGTH = 253;

const NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const NAME = new RegExp(`^${NAME_FMT}$`);
const NAME_ERR = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT = `(${NAME_FMT})?`;
const LABEL_VALUE_ERR = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN_FMT = `${DNS_LABEL_FMT}(\\.${DNS_LABEL_FMT})*`;
/** The whole-string pattern of a DNS subdomain (length apart), also values.schema.json's for prefixes. */
export const DNS_SUBDOMAIN_PATTERN = `^${DNS_SUBDOMAIN_FMT}$`;
const DNS_SUBDOMAIN = new RegExp(DNS_SUBDOMAIN_PATTERN);
const DNS_SUBDOMAIN_ERR =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/**
 * Why a string cannot be the name part of a key, or a label value. When a string is both too
 * long and holds characters that are not allowed, the characters win: shortening it would not
 * make it valid.
 */
export type NameProblem = 'empty' | 'invalid-characters' | 'too-long';

/** The problem with `name` as the name part of a label key, or undefined when it is valid. */
export function labelNameProblem(name: string): NameProblem | undefined {
  if (name === '') return 'empty';
  if (!NAME.test(name)) return 'invalid-characters';
  if (name.length > LABEL_NAME_MAX_LENGTH) return 'too-long';
  return undefined;
}

/** The problem with `value` as a label value, or undefined when it is valid. "" is valid. */
export function labelValueProblem(value: string): Exclude<NameProblem, 'empty'> | undefined {
  if (value === '') return undefined;
  if (!NAME.test(value)) return 'invalid-characters';
  if (value.length > LABEL_VALUE_MAX_LENGTH) return 'too-long';
  return undefined;
}

/** apimachinery's RegexError: `msg (e.g. 'a',  or 'b', regex used for validation is '...')`. */
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  // The double space before "or" is apimachinery's own.
  const eg = examples.map((e) => `'${e}', `).join(' or ');
  return examples.length === 0 ? `${msg} (regex used for validation is '${fmt}')` : `${msg} (e.g. ${eg}regex used for validation is '${fmt}')`;
}

const maxLengthError = (n: number): string => `must be no more than ${n} characters`;
const EMPTY_ERROR = 'must be non-empty';
const NAME_REGEX_ERROR = regexError(NAME_ERR, NAME_FMT, 'MyName', 'my.name', '123-abc');

/** The API server's messages for a DNS-1123 subdomain; empty when `value` is valid. */
export function validateDnsSubdomain(value: string): string[] {
  const messages: string[] = [];
  if (value.length > DNS_SUBDOMAIN_MAX_LENGTH) messages.push(maxLengthError(DNS_SUBDOMAIN_MAX_LENGTH));
  if (!DNS_SUBDOMAIN.test(value)) messages.push(regexError(DNS_SUBDOMAIN_ERR, DNS_SUBDOMAIN_FMT, 'example.com'));
  return messages;
}

export const isDnsSubdomain = (value: string): boolean => value.length <= DNS_SUBDOMAIN_MAX_LENGTH && DNS_SUBDOMAIN.test(value);

/** The API server's messages for a label or annotation key (IsQualifiedName); empty when `key` is valid. */
export function validateQualifiedName(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) return [`a qualified name ${NAME_REGEX_ERROR} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  const messages: string[] = [];
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === '') messages.push(`prefix part ${EMPTY_ERROR}`);
    else for (const m of validateDnsSubdomain(prefix)) messages.push(`prefix part ${m}`);
  }
  if (name === '') messages.push(`name part ${EMPTY_ERROR}`);
  else if (name.length > LABEL_NAME_MAX_LENGTH) messages.push(`name part ${maxLengthError(LABEL_NAME_MAX_LENGTH)}`);
  if (name !== '' && !NAME.test(name)) messages.push(`name part ${NAME_REGEX_ERROR}`);
  return messages;
}

export const isQualifiedName = (key: string): boolean => validateQualifiedName(key).length === 0;

/** The API server's messages for a label value; empty when `value` is valid. */
export function validateLabelValue(value: string): string[] {
  const messages: string[] = [];
  if (value.length > LABEL_VALUE_MAX_LENGTH) messages.push(maxLengthError(LABEL_VALUE_MAX_LENGTH));
  if (value !== '' && !NAME.test(value)) messages.push(regexError(LABEL_VALUE_ERR, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'));
  return messages;
}

export const isValidLabelValue = (value: string): boolean => labelValueProblem(value) === undefined;

/** True when `name` can be the part of a key after the "/". */
export const isLabelName = (name: string): boolean => labelNameProblem(name) === undefined;
