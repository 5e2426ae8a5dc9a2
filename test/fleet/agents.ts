/**
 * A fleet of agents in one process: each is the product's own wiring (startAgentLoops from
 * src/agent/loops.ts) with the given config, its IMDS an in-process document for its VM (with a
 * `release` tag the caller changes fleet-wide), and its Kubernetes client the product's
 * (createClientNodeNodeClient) against the API server under test, shared by every agent. The
 * fleet records every request the agents send and which `release` each agent last saw on its node.
 *
 * Time is the caller's ScaledClock. The API server keeps wall time, so a watch's server-side
 * timeout would last `factor` times too long in agent time: the fleet ends each watch after its
 * timeoutSeconds of agent time instead, as the API server would at agent speed.
 */
import { startAgentLoops, type AgentLoops } from '../../src/agent/loops.ts';
import type { Config } from '../../src/config/schema.ts';
import { parseInstanceDocument, type InstanceDocument } from '../../src/imds/document.ts';
import { createClientNodeNodeClient, loadKubeConfig } from '../../src/kube/clientNode.ts';
import type { NodeClient } from '../../src/kube/nodeClient.ts';
import type { NodeMeta } from '../../src/kube/types.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { builtInFixture } from '../../testbed/imds-emulator/fixtures.ts';
import type { ScaledClock } from '../helpers/fakeClock.ts';
import type { ApiServerUnderTest } from './apiServer.ts';

/** A request as the agents send it, named as apiserver_request_total names it (verb and resource). */
export type SentKind = 'LIST nodes' | 'WATCH nodes' | 'PATCH nodes' | 'PATCH nodes/status' | 'POST events';

export interface Fleet {
  /** Starts every agent in the same instant (a node pool created at once). */
  start(): void;
  /** The agents' nodes, in order. */
  readonly names: readonly string[];
  /** Every request the agents sent, with its agent time, since the last clearSent(). */
  readonly sent: { at: number; kind: SentKind }[];
  clearSent(): void;
  /** Sent requests by kind over [from, to) of agent time. */
  sentCounts(from?: number, to?: number): Partial<Record<SentKind, number>>;
  /** Changes the `release` tag on every VM at once (the agents see it at their next poll). */
  setRelease(value: string): void;
  /** How many agents last saw `release` = value on their node (in a list, a watch event or a patch answer). */
  labelled(value: string): number;
  stop(): Promise<void>;
}

export const RELEASE_LABEL = 'tags.imds-labeler.io/release';

export async function startFleet(o: { server: ApiServerUnderTest; names: string[]; config: Config; clock: ScaledClock; logger: Logger; random?: () => number }): Promise<Fleet> {
  const { clock } = o;
  /** One client for every agent (an agent process would have one each). */
  const api = createClientNodeNodeClient({ component: 'imds-labeler' }, await loadKubeConfig({ kubeconfig: o.server.kubeconfig, env: {} }));

  // ---- IMDS: one document per VM; the value of the tag `release` is the fleet-wide generation.
  const base = builtInFixture('default') as { compute: Record<string, unknown> };
  let release = 'v1';
  const documentFor = (name: string, i: number, cache: Map<string, InstanceDocument>): InstanceDocument => {
    let doc = cache.get(release);
    if (!doc) {
      cache.clear();
      doc = parseInstanceDocument({
        compute: { ...base.compute, name, platformFaultDomain: String(i % 3), platformUpdateDomain: String(i % 5), tagsList: [{ name: 'release', value: release }], tags: `release:${release}` },
      });
      cache.set(release, doc);
    }
    return doc;
  };

  // ---- What the agents send, and what they see of their nodes.
  let sent: { at: number; kind: SentKind }[] = [];
  const record = (kind: SentKind) => sent.push({ at: clock.now(), kind });
  const seen = new Map<string, string | undefined>();
  const releases = new Map<string, number>();
  const observe = (node: NodeMeta) => {
    const before = seen.get(node.name);
    const now = node.labels[RELEASE_LABEL];
    if (before === now) return;
    if (before !== undefined) releases.set(before, (releases.get(before) ?? 0) - 1);
    if (now !== undefined) releases.set(now, (releases.get(now) ?? 0) + 1);
    seen.set(node.name, now);
  };

  const agentClient = (): NodeClient => ({
    async list(options) {
      record('LIST nodes');
      const list = await api.list(options);
      for (const n of list.nodes) observe(n);
      return list;
    },
    async watch(name, options, handlers) {
      record('WATCH nodes');
      // The server's timeout, on agent time (see the header).
      const timeout = new AbortController();
      const signal = AbortSignal.any([options.signal, timeout.signal]);
      void clock.sleep(options.timeoutSeconds * 1000, signal).then(
        () => timeout.abort(),
        () => undefined,
      );
      try {
        return await api.watch(name, { ...options, signal }, {
          onEvent: (type, node) => {
            observe(node);
            handlers.onEvent(type, node);
          },
          onBookmark: (rv) => handlers.onBookmark(rv),
        });
      } finally {
        timeout.abort();
      }
    },
    async patch(name, patch, signal) {
      record('PATCH nodes');
      const node = await api.patch(name, patch, signal);
      observe(node);
      return node;
    },
    async patchStatus(name, patch, signal) {
      record('PATCH nodes/status');
      const node = await api.patchStatus(name, patch, signal);
      observe(node);
      return node;
    },
    async event(node, event) {
      record('POST events');
      return api.event(node, event);
    },
  });

  let agents: AgentLoops[] = [];
  return {
    start() {
      if (agents.length) throw new Error('the fleet has started already');
      agents = o.names.map((name, i) => {
        const docs = new Map<string, InstanceDocument>();
        return startAgentLoops(o.config, { nodeName: name, nodeClient: agentClient(), fetchInstance: async () => documentFor(name, i, docs), logger: o.logger, clock, random: o.random ?? Math.random });
      });
    },
    names: o.names,
    get sent() {
      return sent;
    },
    clearSent: () => void (sent = []),
    sentCounts(from = -Infinity, to = Infinity) {
      const out: Partial<Record<SentKind, number>> = {};
      for (const r of sent) if (r.at >= from && r.at < to) out[r.kind] = (out[r.kind] ?? 0) + 1;
      return out;
    },
    setRelease: (value) => void (release = value),
    labelled: (value) => releases.get(value) ?? 0,
    stop: async () => void (await Promise.allSettled(agents.map((a) => a.stop()))),
  };
}
