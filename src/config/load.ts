import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { z } from 'zod/mini';
import { OPTIONS, commandsTaking, describeFlagError, envName, optionsOf, type ConfigCommand, type OptionSpec } from './options.ts';
import { configSchema, type Config } from './schema.ts';
import { parseJsonOrYaml } from './text.ts';

export class ConfigError extends Error {
  readonly kind = 'config';
  /** Dotted path of the offending field, when one is to blame. */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(message);
    this.name = 'ConfigError';
    this.field = field;
  }
}

/** A flag that is unknown or misused: the entry point answers it with the command's usage. */
export class FlagError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

type Tree = Record<string, unknown>;

export interface ConfigSources {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
}

export interface LoadedConfig {
  config: Config;
  /** Arguments that are not options, e.g. a subcommand's operands. */
  positionals: string[];
  help: boolean;
}

/** The flags a command takes: the shared ones it lists (optionsOf), and its own. */
export interface CommandFlags {
  command: ConfigCommand;
  own?: ParseArgsOptionsConfig;
}

/** parseArgs options for a command: --config, --help, its shared flags and its own. */
export function flagOptions({ command, own = {} }: CommandFlags): ParseArgsOptionsConfig {
  const options: ParseArgsOptionsConfig = { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } };
  for (const o of optionsOf(command)) options[o.flag] = o.kind === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: o.kind === 'list' };
  return { ...options, ...own };
}

/**
 * defaults < config file < environment < flags. Throws ConfigError naming the field, FlagError
 * for a flag the command does not take. The file and the environment serve every command, so
 * they may set any field; flags are the command's own.
 */
export async function loadConfig(sources: ConfigSources, flagSet: CommandFlags = { command: 'agent' }): Promise<LoadedConfig & { flags: Record<string, unknown> }> {
  let parsed;
  const options = flagOptions(flagSet);
  try {
    parsed = parseArgs({ args: [...sources.argv], options, allowPositionals: true, allowNegative: true, strict: true });
  } catch (err) {
    const elsewhere = (flag: string) => commandsTaking(flag).filter((c) => c !== flagSet.command);
    throw new FlagError(describeFlagError(err, Object.keys(options), { command: flagSet.command, elsewhere }));
  }
  const flags = parsed.values as Record<string, unknown>;
  const origin = new Map<string, string>();
  const merged: Tree = {};

  const configPath = (flags.config as string | undefined) ?? sources.env.IMDS_LABELER_CONFIG;
  if (configPath) {
    const fromFile = await readConfigFile(configPath, sources.readFile ?? ((p) => readFileSync(p, 'utf8')));
    deepMerge(merged, fromFile);
    for (const path of leafPaths(fromFile)) origin.set(path, configPath);
  }
  for (const option of OPTIONS) {
    const names = [envName(option.flag), ...(option.envAliases ?? [])];
    const name = names.find((n) => sources.env[n] !== undefined && sources.env[n] !== '');
    if (name) setPath(merged, option, coerce(option, sources.env[name]!), origin, `$${name}`);
  }
  for (const option of optionsOf(flagSet.command)) {
    const value = flags[option.flag];
    if (value !== undefined) setPath(merged, option, coerce(option, value), origin, `--${option.flag}`);
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) throw describe(result.error, origin);
  return { config: result.data, positionals: parsed.positionals, help: flags.help === true, flags };
}

async function readConfigFile(path: string, read: (path: string) => string): Promise<Tree> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let data: unknown;
  try {
    data = await parseJsonOrYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (data == null) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`config file ${path} must hold a mapping at the top level`);
  return data as Tree;
}

function coerce(option: OptionSpec, raw: unknown): unknown {
  if (option.kind === 'list') {
    const items = Array.isArray(raw) ? raw : [raw];
    return items.flatMap((i) => String(i).split(',')).map((s) => s.trim()).filter(Boolean);
  }
  if (typeof raw !== 'string') return raw;
  if (option.kind === 'number') return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  if (option.kind === 'boolean') return { true: true, '1': true, false: false, '0': false }[raw.toLowerCase()] ?? raw;
  return raw;
}

function setPath(tree: Tree, option: OptionSpec, value: unknown, origin: Map<string, string>, source: string) {
  const keys = option.path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys.at(-1)!] = value;
  origin.set(option.path, source);
}

function deepMerge(target: Tree, source: Tree) {
  for (const [key, value] of Object.entries(source)) {
    if (isTree(value) && isTree(target[key])) deepMerge(target[key] as Tree, value);
    else target[key] = isTree(value) ? deepMerge({}, value) ?? structuredClone(value) : value;
  }
  return target;
}

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

function leafPaths(tree: Tree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) => (isTree(v) ? leafPaths(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

function describe(error: z.core.$ZodError, origin: Map<string, string>): ConfigError {
  const lines = error.issues.map((issue) => {
    const field = issue.path.join('.') || '(top level)';
    const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (field === '(top level)' ? k : `${field}.${k}`)) : [];
    const from = origin.get(field);
    if (unknownKeys.length) return `${unknownKeys.join(', ')}: unknown field`;
    return `${field}${from ? ` (from ${from})` : ''}: ${issue.message}`;
  });
  const first = error.issues[0];
  const field = first?.code === 'unrecognized_keys' ? [...first.path, first.keys[0]].join('.') : first?.path.join('.');
  return new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`, field || undefined);
}
