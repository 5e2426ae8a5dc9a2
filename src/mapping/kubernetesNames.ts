/**
 * Kubernetes' own rules for label keys and values (k8s.io/apimachinery/pkg/util/validation),
 * so that nothing the product writes is refused by the API server.
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

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

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

const NAME_FORMAT =
  "must be 63 characters or less, begin and end with an alphanumeric character ([a-z0-9A-Z]) with dashes (-), underscores (_), dots (.), and alphanumerics between";

function nameMessages(name: string, what: string): string[] {
  switch (labelNameProblem(name)) {
    case 'empty':
      return [`${what} must not be empty`];
    case 'invalid-characters':
      return [`${what} ${NAME_FORMAT}`];
    case 'too-long':
      return [`${what} must be no more than ${LABEL_NAME_MAX_LENGTH} characters`];
    default:
      return [];
  }
}

/** Kubernetes' messages for a DNS subdomain (RFC 1123); empty when `value` is valid. */
export function validateDnsSubdomain(value: string): string[] {
  const messages: string[] = [];
  if (value.length > DNS_SUBDOMAIN_MAX_LENGTH) messages.push(`must be no more than ${DNS_SUBDOMAIN_MAX_LENGTH} characters`);
  if (!DNS_SUBDOMAIN.test(value)) {
    messages.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    );
  }
  return messages;
}

export const isDnsSubdomain = (value: string): boolean => validateDnsSubdomain(value).length === 0;

/** Kubernetes' messages for a label or annotation key; empty when `key` is valid. */
export function validateQualifiedName(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) return [`a qualified name is an optional DNS subdomain prefix and "/" followed by a name that ${NAME_FORMAT}`];
  if (parts.length === 1) return nameMessages(key, 'name part');
  const [prefix = '', name = ''] = parts;
  const messages =
    prefix === '' ? ['prefix part must not be empty'] : validateDnsSubdomain(prefix).map((m) => `prefix part ${m}`);
  return [...messages, ...nameMessages(name, 'name part')];
}

export const isQualifiedName = (key: string): boolean => validateQualifiedName(key).length === 0;

/** Kubernetes' messages for a label value; empty when `value` is valid. */
export function validateLabelValue(value: string): string[] {
  switch (labelValueProblem(value)) {
    case 'invalid-characters':
      return ["a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"];
    case 'too-long':
      return [`must be no more than ${LABEL_VALUE_MAX_LENGTH} characters`];
    default:
      return [];
  }
}

export const isValidLabelValue = (value: string): boolean => labelValueProblem(value) === undefined;

/** True when `name` can be the part of a label key after the "/". */
export const isLabelName = (name: string): boolean => labelNameProblem(name) === undefined;
