import { envName, optionsOf, type ConfigCommand } from '../config/options.ts';

/**
 * The shared flags a command's --help lists, formatted: the ones it takes, those that change what
 * it does (the config file and the environment, shared by every command, may set any field).
 */
export function sharedFlagsHelp(command: ConfigCommand): string {
  const rows: [string, string][] = [
    ['--config FILE', 'config file, JSON or YAML (also $IMDS_LABELER_CONFIG)'],
    ...optionsOf(command).map((o): [string, string] => [o.kind === 'boolean' ? `--[no-]${o.flag}` : `--${o.flag}${o.kind === 'list' ? ' LIST' : ' VALUE'}`, o.help]),
  ];
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join('\n');
}

export function envHelp(command: ConfigCommand): string {
  return optionsOf(command).map((o) => [envName(o.flag), ...(o.envAliases ?? [])].join(', ')).map((e) => `  ${e}`).join('\n');
}
