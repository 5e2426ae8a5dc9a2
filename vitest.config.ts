import { defineConfig } from 'vitest/config';

// The real-cluster tier: kube-apiserver, etcd and kube-scheduler (test/control-plane/), one
// control plane for the run, started by globalSetup only when this project has files to run.
const CLUSTER = ['test/cluster/**/*.test.ts', 'test/fidelity/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end suites spawn real processes, so keep the pool small.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      // Pure tests: no external tool, no Go, no kubectl.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // Real processes against the emulator and the sandbox, kubectl, helm, Prometheus.
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', ...CLUSTER] } },
      {
        extends: true,
        test: { name: 'cluster', include: CLUSTER, globalSetup: ['test/control-plane/globalSetup.ts'], testTimeout: 120_000, hookTimeout: 180_000 },
      },
    ],
  },
});
