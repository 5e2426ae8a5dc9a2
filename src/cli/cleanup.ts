import { ConfigError, loadConfig, type CommandFlags } from '../config/load.ts';
import { reconcilePolicy } from '../kube/policy.ts';
import { createLogger } from '../observability/logger.ts';
import type { Command } from './command.ts';
import { nodeClientFor } from './nodeClient.ts';
import { sharedFlagsHelp } from './usage.ts';

/** The flags cleanup takes; the chart's uninstall hook passes them too (test/chart/key-rules.test.ts). */
export const CLEANUP_FLAGS: CommandFlags = { command: 'cleanup', own: { 'all-nodes': { type: 'boolean' } } };

export const cleanupCommand: Command = {
  name: 'cleanup',
  summary: 'remove the labels and annotations the agent owns (used on uninstall)',
  usage: `Usage: imds-labeler cleanup (--all-nodes | --node-name NAME) [flags]

Removes, from each node, the keys listed in its ownership annotations
(<prefix>/owned-labels, <prefix>/owned-annotations) and those annotations, whatever the config
says now (a well-known key an earlier config wrote goes too), the agent's taints
(<prefix>/unlabelled, <prefix>/maintenance) and its <prefix>/MaintenanceScheduled condition
(through nodes/status; a refusal there is only a warning). Keys, taints and conditions the agent
did not write are never touched. Pass the agent's --config, so the prefixes are the agent's. Nodes are listed a page
at a time; a node deleted meanwhile is skipped, and a node that cannot be patched is reported
after the others are cleaned: the exit status is then 1. The chart runs this as a post-delete
hook.

Flags:
  --all-nodes   clean every node
${sharedFlagsHelp('cleanup')}
`,
  async run(argv, io) {
    const { config, help, flags } = await loadConfig({ argv, env: io.env }, CLEANUP_FLAGS);
    if (help) {
      io.stdout.write(this.usage);
      return 0;
    }
    const all = flags['all-nodes'] === true;
    const nodeName = all ? undefined : config.kube.nodeName;
    if (!all && !nodeName) throw new ConfigError('kube.nodeName: pass --all-nodes or --node-name NAME', 'kube.nodeName');
    const logger = createLogger({ level: config.log.level, format: config.log.format });
    const [client, { cleanupNodes }] = await Promise.all([nodeClientFor(config.kube, { component: 'imds-labeler', env: io.env, signal: io.signal }), import('../kube/cleanup.ts')]);
    const summary = await cleanupNodes(client, reconcilePolicy(config.labels, config.kube.identity), logger, { nodeName, dryRun: config.dryRun });
    const { failed, ...counts } = summary;
    const line = { ...counts, failed: failed.length, dryRun: config.dryRun };
    // A node deleted meanwhile is no failure; one that could not be patched is, after the rest are done.
    if (failed.length) logger.error({ ...line, failedNodes: failed.slice(0, 20).map((f) => f.node) }, 'cleanup done; some nodes still carry owned keys');
    else logger.info(line, 'cleanup done');
    return failed.length ? 1 : 0;
  },
};
