import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/**
 * Fault plans of the IMDS emulator and the kube sandbox share one way in: a YAML/JSON file or a
 * decoded value, validated by the caller's zod schema, with errors that name the field.
 */
export class FaultPlanError extends Error {
  readonly kind = 'fault-plan';
  /** The offending field, e.g. "faults[0].status", when one is to blame. */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(message);
    this.name = 'FaultPlanError';
    this.field = field;
  }
}

export const fieldName = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

/** Validates a plan; throws FaultPlanError naming the first offending field. */
export function parsePlan<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: string,
  /** Lists the fields allowed where an unknown one was found, for a more helpful message. */
  knownKeys?: (path: readonly PropertyKey[]) => string,
): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  let path: PropertyKey[] = [...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path = [...path, issue.keys[0]!];
  const field = fieldName(path);
  const message =
    issue.code === 'unrecognized_keys' ? `unknown field${knownKeys ? ` (known: ${knownKeys(issue.path)})` : ''}` : issue.message;
  throw new FaultPlanError(`${source}: ${field || '(plan)'}: ${message}`, field || undefined);
}

/** Decodes a plan's YAML or JSON text ("" is an empty plan). Throws FaultPlanError. */
export function decodePlanText(text: string, source: string): unknown {
  try {
    return (text.trim() === '' ? {} : parseYaml(text)) ?? {};
  } catch (err) {
    throw new FaultPlanError(`${source}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

export function readPlanFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new FaultPlanError(`cannot read faults file ${path}: ${(err as Error).message}`);
  }
}
