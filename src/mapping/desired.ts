/** What the node should carry, according to the latest IMDS document. Produced by render(). */
export interface Desired {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /**
   * Tags that could not become labels, and why. Sorted by tag name, then reason. All but the
   * `excluded` ones are still in the tags annotation.
   */
  skipped: SkippedTag[];
  /**
   * Labels and annotations left out (or shortened) because the value IMDS sent cannot be written
   * as it is, e.g. a vmSize with a space. Sorted by key. render() always sets it; optional so that
   * a Desired built by hand stays valid.
   */
  problems?: Problem[];
  /**
   * Labels this document cannot tell about: their IMDS field is newer than the api-version that
   * answered (a host that offered only an old version). Neither written nor removed: the node
   * keeps what it has. Sorted. Optional so that a Desired built by hand stays valid.
   */
  unknownLabels?: string[];
  /**
   * Annotations whose source cannot be read right now (scheduled events failing): neither
   * written nor removed, and they stay owned. Optional, like unknownLabels.
   */
  unknownAnnotations?: string[];
}

export type SkipReason =
  /** The name matched no include pattern, or matched an exclude pattern. Not in the annotation. */
  | 'excluded'
  /** The name is empty or holds characters a label name may not (space, "/", ":", non-ASCII...). */
  | 'invalid-name'
  | 'name-too-long'
  | 'invalid-value'
  | 'value-too-long'
  /** Another tag has the same name ignoring case, as Azure compares names: none of them is labeled. */
  | 'duplicate-name'
  /** The tag's label key is one the product uses for an IMDS field (tagPrefix equal to prefix). */
  | 'reserved-name';

export interface SkippedTag {
  tag: string;
  reason: SkipReason;
}

export type ProblemReason =
  /** The value holds characters a label value may not. The label is left out. */
  | 'invalid-value'
  /** The value is longer than 63 characters. The label is left out. */
  | 'value-too-long'
  /** The tags annotation would pass its size cap: some tags were left out of it. */
  | 'annotation-too-large';

export interface Problem {
  /** The label or annotation key concerned, e.g. "imds-labeler.io/vm-size". */
  key: string;
  /** Where its value comes from, e.g. "compute.vmSize". */
  field: string;
  reason: ProblemReason;
  /** One line for people: what was wrong and what was done. */
  message: string;
}
