import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

/**
 * The source revision the agent was built from. scripts/build.ts writes it into the bundle (from
 * $REVISION, else `git rev-parse`); an unbundled run reads it from the environment, else "unknown".
 */
export const REVISION: string = process.env.IMDS_LABELER_REVISION || 'unknown';
