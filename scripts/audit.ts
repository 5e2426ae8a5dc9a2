import { execFile } from 'node:child_process';

/**
 * `npm run audit`: fails when `npm audit --omit=dev` reports a high or critical advisory in the
 * production dependencies, and also when the registry gives no report at all (an unchecked
 * dependency tree is not a clean one). It is not part of `npm test` because it needs the
 * registry's audit endpoint, which some mirrors refuse.
 */
interface AuditReport {
  metadata?: { vulnerabilities?: Record<string, number> };
  vulnerabilities?: Record<string, { severity: string }>;
  error?: { summary?: string };
  message?: string;
  statusCode?: number;
}

const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
  execFile('npm', ['audit', '--omit=dev', '--json'], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (_error, out, err) => resolve({ stdout: out, stderr: err }));
});
let report: AuditReport;
try {
  report = JSON.parse(stdout) as AuditReport;
} catch {
  console.error(`npm audit did not answer JSON; stderr: ${stderr.slice(0, 2000)}`);
  process.exit(1);
}
const counts = report.metadata?.vulnerabilities;
if (!counts) {
  console.error(`npm audit could not run, so the advisories are unchecked: ${report.message ?? report.error?.summary ?? 'no report'}${report.statusCode ? ` (HTTP ${report.statusCode})` : ''}`);
  process.exit(1);
}
const serious = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) => v.severity === 'high' || v.severity === 'critical');
for (const [name, v] of serious) console.error(`${name}: ${v.severity}`);
console.log(`npm audit --omit=dev: ${JSON.stringify(counts)}`);
process.exit(serious.length || (counts.high ?? 0) + (counts.critical ?? 0) ? 1 : 0);
