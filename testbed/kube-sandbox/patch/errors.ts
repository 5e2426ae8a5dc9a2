/** A patch that is malformed (`bad`, answered 400) or cannot be applied to the object (`apply`, 422). */
export class PatchError extends Error {
  readonly kind: 'bad' | 'apply';
  constructor(kind: 'bad' | 'apply', message: string) {
    super(message);
    this.name = 'PatchError';
    this.kind = kind;
  }
}
