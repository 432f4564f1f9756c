import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { InputError } from '../errors.js';
import { SETTINGS, type SettingName, type Settings } from './settings.js';

export interface SettingSources {
  /** Path of a YAML config file (`--config`). */
  readonly file?: string | undefined;
  /** The environment; empty values count as unset. */
  readonly env?: NodeJS.ProcessEnv;
  /** Values from command-line flags; undefined entries count as unset. */
  readonly flags?: Partial<Record<SettingName, unknown>>;
}

const NAMES = Object.keys(SETTINGS) as SettingName[];

/**
 * The YAML parser, loaded the first time a config file is read: most sidecars are configured by
 * their environment alone, and their start-up then never loads it (about 160 KB of the bundle).
 */
function yamlParser(): typeof import('yaml').parse {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = yamlParser()(text, { maxAliasCount: 10 });
  } catch (error) {
    throw new InputError(`config file ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new InputError(`config file ${path} must be a YAML mapping of setting: value`);
  for (const key of Object.keys(parsed)) {
    if (!Object.hasOwn(SETTINGS, key)) throw new InputError(`config file ${path}: unknown setting "${key}"; known settings: ${NAMES.join(', ')}`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Builds the settings: a flag overrides the environment, which overrides the config
 * file, which overrides the default. Throws InputError naming the first bad setting
 * and what it accepts.
 */
export function loadSettings(sources: SettingSources = {}): Settings {
  const file = sources.file ? readConfigFile(sources.file) : {};
  const env = sources.env ?? {};
  const settings: Record<string, unknown> = {};
  for (const name of NAMES) {
    const setting = SETTINGS[name];
    const fromFlag = sources.flags?.[name];
    const fromEnv = env[setting.env];
    let origin: string;
    let raw: unknown;
    if (fromFlag !== undefined) [origin, raw] = [`--${kebab(name)}`, fromFlag];
    else if (fromEnv !== undefined && fromEnv !== '') [origin, raw] = [setting.env, fromEnv];
    else if (file[name] !== undefined && file[name] !== null) [origin, raw] = [`${name} in ${sources.file}`, file[name]];
    else {
      settings[name] = setting.default === undefined ? undefined : setting.schema.parse(setting.default);
      continue;
    }
    const result = setting.schema.safeParse(raw);
    if (!result.success) {
      const named = origin === setting.env ? origin : `${origin} (${setting.env})`;
      const issue = result.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` (at ${issue.path.join('.')}: ${issue.message})` : '';
      // A value that may hold a password or key is never echoed (error messages end up in logs).
      const shown = 'secret' in setting && setting.secret ? 'the value (not shown: it may hold a secret)' : JSON.stringify(raw);
      throw new InputError(
        `invalid setting ${named}: ${shown.length > 200 ? `${shown.slice(0, 200)}...` : shown} is not accepted${where}; expected ${setting.accepts}`,
      );
    }
    settings[name] = result.data;
  }
  return settings as Settings;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}
