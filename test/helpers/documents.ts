import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Reading the repository's own files (deploy artifacts, examples) and walking their parsed YAML or JSON. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A file of the repository, by its path from the top (`deploy/docker-compose.yml`). */
export const readRepoFile = (path: string): string => readFileSync(ROOT + path, 'utf8');

export type Obj = Record<string, unknown>;

export const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `value` as a mapping; throws, naming `what`, when it is not one. */
export function obj(value: unknown, what: string): Obj {
  if (!isObj(value)) throw new Error(`${what} is not a mapping`);
  return value;
}

/** `value` as a list; throws, naming `what`, when it is not one. */
export function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what} is not a list`);
  return value;
}

/** `value` as a string; throws, naming `what`, when it is not one. */
export function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} is not a string`);
  return value;
}

/** The value at a dotted `path` of mappings (`http.routers`), or undefined where one is missing. */
export function at(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) current = isObj(current) ? current[key] : undefined;
  return current;
}
