import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectRuntimeMetrics } from './runtimeMetrics.ts';

export const METRIC_PREFIX = 'imds_labeler_';

/** Buckets for a link-local service: sub-millisecond answers up to the request timeout. */
export const IMDS_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  version: string;
  /** Source revision (commit) of the build; "unknown" when not known. */
  revision?: string;
  /** Process metrics (RSS, CPU, event loop); off in unit tests that build many registries. */
  processMetrics?: boolean;
}

/**
 * Every metric the agent exposes, in its own registry. Label values are bounded: IMDS endpoints
 * are a fixed set of names, IMDS codes are the statuses the contract names, `other`, or a few
 * error names (src/imds/errors.ts statusCode); never a node name.
 * The IMDS endpoint label is `imds_endpoint`, not `endpoint`: prometheus-operator sets an
 * `endpoint` target label (the port name) and would rename ours to `exported_endpoint`.
 */
export function createMetrics(options: MetricsOptions) {
  const registry = new Registry();
  const n = (name: string) => `${METRIC_PREFIX}${name}`;
  const r = [registry];

  const m = {
    registry,
    imdsRequestDuration: new Histogram({
      name: n('imds_request_duration_seconds'),
      help: 'Latency of IMDS requests, by IMDS endpoint and HTTP status code (other for a status IMDS does not use; an error name when no status came back).',
      labelNames: ['imds_endpoint', 'code'] as const,
      buckets: IMDS_LATENCY_BUCKETS,
      registers: r,
    }),
    imdsRequests: new Counter({
      name: n('imds_requests_total'),
      help: 'IMDS requests, by IMDS endpoint and HTTP status code (other for a status IMDS does not use; an error name when no status came back).',
      labelNames: ['imds_endpoint', 'code'] as const,
      registers: r,
    }),
    imdsErrors: new Counter({
      name: n('imds_errors_total'),
      help: 'Failed IMDS requests, by IMDS endpoint, error class (retryable or fatal) and code.',
      labelNames: ['imds_endpoint', 'class', 'code'] as const,
      registers: r,
    }),
    imdsThrottled: new Counter({
      name: n('imds_throttled_total'),
      help: 'IMDS answers with HTTP 429 (more than 5 requests per second from this VM).',
      labelNames: ['imds_endpoint'] as const,
      registers: r,
    }),
    imdsRetries: new Counter({
      name: n('imds_retries_total'),
      help: 'IMDS requests retried after a retryable error.',
      labelNames: ['imds_endpoint'] as const,
      registers: r,
    }),
    imdsTimeouts: new Counter({
      name: n('imds_timeouts_total'),
      help: 'IMDS requests that hit the connect or total timeout.',
      labelNames: ['imds_endpoint'] as const,
      registers: r,
    }),
    imdsApiVersionFallbacks: new Counter({
      name: n('imds_api_version_fallbacks_total'),
      help: 'Times IMDS refused the configured api-version and the client fell back to an older one it offered.',
      labelNames: ['to_version'] as const,
      registers: r,
    }),
    imdsLastSuccess: new Gauge({
      name: n('imds_last_success_timestamp_seconds'),
      help: 'Unix time of the last successful IMDS instance fetch.',
      registers: r,
    }),
    pollPeriod: new Gauge({
      name: n('poll_period_seconds'),
      help: 'Configured IMDS poll period, so alerts can measure staleness in periods.',
      registers: r,
    }),
    imdsRateLimiterTokens: new Gauge({
      name: n('imds_rate_limiter_tokens'),
      help: 'Tokens left in the IMDS rate limiter shared by every IMDS call of the process.',
      registers: r,
    }),
    imdsRateLimiterWaits: new Counter({
      name: n('imds_rate_limiter_waits_total'),
      help: 'IMDS calls that had to wait for a rate-limiter token.',
      registers: r,
    }),
    imdsRateLimiterWaitSeconds: new Counter({
      name: n('imds_rate_limiter_wait_seconds_total'),
      help: 'Total time IMDS calls spent waiting for a rate-limiter token.',
      registers: r,
    }),
    reconciles: new Counter({
      name: n('reconciles_total'),
      help: 'Reconcile passes, by result: unchanged, patched, dry_run or failed.',
      labelNames: ['result'] as const,
      registers: r,
    }),
    nodePatches: new Counter({
      name: n('node_patches_total'),
      help: 'Node patches sent, by result: success, conflict or error.',
      labelNames: ['result'] as const,
      registers: r,
    }),
    labelChanges: new Counter({
      name: n('label_changes_total'),
      help: 'Label and annotation keys changed on the node, by operation: added, changed or removed.',
      labelNames: ['operation'] as const,
      registers: r,
    }),
    kubeRequests: new Counter({
      name: n('kube_requests_total'),
      help: 'Kubernetes API requests, by verb and HTTP status code.',
      labelNames: ['verb', 'code'] as const,
      registers: r,
    }),
    watchRestarts: new Counter({
      name: n('watch_restarts_total'),
      help: 'Node watch restarts, by reason: timeout, gone (410), error or watchdog.',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    managedLabels: new Gauge({
      name: n('managed_labels'),
      help: 'Labels this agent currently owns on its node.',
      registers: r,
    }),
    managedAnnotations: new Gauge({
      name: n('managed_annotations'),
      help: 'Annotations this agent currently owns on its node.',
      registers: r,
    }),
    tagsSkipped: new Gauge({
      name: n('tags_skipped'),
      help: 'VM tags left out of labels in the latest mapping, by reason; they are still in the tags annotation.',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    labelConflicts: new Gauge({
      name: n('label_conflicts'),
      help: 'Keys the agent would write that another writer set first on its node (not in the ownership record): left as they are.',
      registers: r,
    }),
    mappingProblems: new Gauge({
      name: n('mapping_problems'),
      help: 'Labels and annotations of the latest mapping that IMDS sent a value for that cannot be written as it is, by source field and reason (invalid-value, value-too-long, annotation-too-large).',
      labelNames: ['field', 'reason'] as const,
      registers: r,
    }),
    imdsInvalidDocuments: new Counter({
      name: n('imds_invalid_documents_total'),
      help: 'IMDS instance answers refused as no instance document, by reason (not-json, html, schema, missing-fields, too-deep); the labels stay as they are.',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    tagsAnnotationDropped: new Counter({
      name: n('tags_annotation_dropped_total'),
      help: 'Node patches sent without the tags annotation because the node\'s annotations would pass the API server\'s 256 KiB limit; the labels are written all the same.',
      registers: r,
    }),
    scheduledEventsPending: new Gauge({
      name: n('scheduled_events_pending'),
      help: 'Azure scheduled events pending for this VM (its name in Resources), by event type (Freeze, Reboot, Redeploy, Preempt, Terminate); every type starts at 0 once the feature is on.',
      labelNames: ['event_type'] as const,
      registers: r,
    }),
    scheduledEventSecondsUntil: new Gauge({
      name: n('scheduled_event_seconds_until_not_before'),
      help: 'Seconds from the last scheduled-events poll to the NotBefore of the next pending event of each type (0 once started or past); no series for a type with no event.',
      labelNames: ['event_type'] as const,
      registers: r,
    }),
    scheduledEventsIncarnation: new Gauge({
      name: n('scheduled_events_document_incarnation'),
      help: 'DocumentIncarnation of the last scheduled events document: it goes up whenever the list changes.',
      registers: r,
    }),
    scheduledEventsLastSuccess: new Gauge({
      name: n('scheduled_events_last_success_timestamp_seconds'),
      help: 'Unix time of the last successful scheduled-events poll.',
      registers: r,
    }),
    scheduledEventsPollPeriod: new Gauge({
      name: n('scheduled_events_poll_period_seconds'),
      help: 'Configured scheduled-events poll period; absent while the feature is off.',
      registers: r,
    }),
    lastReconcile: new Gauge({
      name: n('last_reconcile_timestamp_seconds'),
      help: 'Unix time of the last reconcile pass that ended without error.',
      registers: r,
    }),
    buildInfo: new Gauge({
      name: n('build_info'),
      help: 'Always 1; the labels carry the agent version, the source revision it was built from and the Node.js version.',
      labelNames: ['version', 'revision', 'nodejs_version'] as const,
      registers: r,
    }),
  };
  m.buildInfo.set({ version: options.version, revision: options.revision ?? 'unknown', nodejs_version: process.versions.node }, 1);
  // Unprefixed, under the names every Node.js dashboard and alert expects (process_cpu_seconds_total,
  // nodejs_heap_size_used_bytes, ...); the scrape's job and pod labels tell the agent apart.
  if (options.processMetrics) collectRuntimeMetrics(registry, '');
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
