/**
 * What each HTTP status from IMDS means to the agent: whether another attempt can help. The
 * statuses the contract documents (../shared/spec), and a few a proxy or a broken host could send.
 * Stated here, not read from src/imds/imdsError.ts, so a change to the rule fails the tests; one
 * table for the client's unit tests, the client against the emulator and the fault matrix.
 */
export const IMDS_STATUSES: readonly { status: number; retryable: boolean }[] = [
  { status: 400, retryable: false },
  { status: 403, retryable: false },
  { status: 404, retryable: false },
  { status: 405, retryable: false },
  { status: 410, retryable: true },
  { status: 429, retryable: true },
  { status: 500, retryable: true },
  { status: 502, retryable: true },
  { status: 503, retryable: true },
  { status: 504, retryable: true },
];
