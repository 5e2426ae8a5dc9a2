import { OPTIONS, envName } from '../config/options.ts';

/** The shared flags, formatted for --help and the README's CLI reference. */
export function sharedFlagsHelp(): string {
  const rows: [string, string][] = [
    ['--config FILE', 'config file, JSON or YAML (also $IMDS_LABELER_CONFIG)'],
    ...OPTIONS.map((o): [string, string] => [o.kind === 'boolean' ? `--[no-]${o.flag}` : `--${o.flag}${o.kind === 'list' ? ' LIST' : ' VALUE'}`, o.help]),
  ];
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join('\n');
}

export function envHelp(): string {
  return OPTIONS.map((o) => [envName(o.flag), ...(o.envAliases ?? [])].join(', ')).map((e) => `  ${e}`).join('\n');
}
