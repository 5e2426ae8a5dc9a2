import { expect } from 'vitest';
import { ImdsError } from '../../src/imds/imdsError.ts';

/** Sum of a prom-client metric's values whose labels include the given ones. */
export async function metricSum(m: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  const values = (await m.get()).values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** Expects the call to fail with an ImdsError, and returns it. */
export async function imdsFailure(promise: Promise<unknown>): Promise<ImdsError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ImdsError);
    return error as ImdsError;
  }
  throw new Error('expected the call to fail');
}
