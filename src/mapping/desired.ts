/** What the node should carry, according to the latest IMDS document. Produced by render(). */
export interface Desired {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Tags that could not become labels, and why. They are still in the tags annotation. */
  skipped: SkippedTag[];
}

export type SkipReason =
  | 'excluded'
  | 'invalid-name'
  | 'name-too-long'
  | 'invalid-value'
  | 'value-too-long'
  | 'duplicate-name';

export interface SkippedTag {
  tag: string;
  reason: SkipReason;
}
