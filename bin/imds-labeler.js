#!/usr/bin/env node
// Runs the TypeScript entry point directly: Node.js 24 strips types natively.
// The container image runs the bundled build (dist/imds-labeler.mjs) instead.
await import('../cmd/imds-labeler.ts');
