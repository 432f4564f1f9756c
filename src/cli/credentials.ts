/**
 * The login that `jobgate login <url>` stores: jobgate's URL and an operator token, in
 * `$XDG_CONFIG_HOME/jobgate/credentials.json` (default `~/.config/jobgate/credentials.json`), mode
 * 0600 in a directory of mode 0700. A file that other users could read, or that another user owns,
 * is refused (exit 2), as ssh refuses such a private key.
 */
import { closeSync, fchmodSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from '../errors.js';
import { tokenShape } from '../tokens/format.js';

/** What the file holds: the server's origin (`http(s)://host[:port]`) and the operator token. */
export interface StoredLogin {
  readonly server: string;
  readonly token: string;
}

/** The most a credentials file may weigh: a URL and a token. */
const MAX_BYTES = 64 * 1024;

/** Where the login is stored: under XDG_CONFIG_HOME when it is an absolute path, else ~/.config. */
export function credentialsPath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec: a relative path is invalid and ignored.
  const config = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(config, 'jobgate', 'credentials.json');
}

/**
 * The stored login, or undefined when there is none. InputError (exit 2) for a file that other
 * users can read, that another user owns, that is not a regular file, or that does not hold a login.
 */
export function readCredentials(env: NodeJS.ProcessEnv): StoredLogin | undefined {
  const path = credentialsPath(env);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InputError(`${path} is not a file: remove it and run jobgate login again`);
    const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
    if (uid !== undefined && stat.uid !== uid)
      throw new InputError(`${path} belongs to another user (uid ${stat.uid}), so it is not used: remove it and run jobgate login again`);
    if ((stat.mode & 0o077) !== 0)
      throw new InputError(
        `${path} is accessible by other users (mode 0${(stat.mode & 0o777).toString(8)}), so it is not used: it holds a token; run chmod 600 ${path}`,
      );
    if (stat.size > MAX_BYTES) throw malformed(path);
    return parseLogin(readFileSync(fd, 'utf8'), path);
  } finally {
    closeSync(fd);
  }
}

function parseLogin(text: string, path: string): StoredLogin {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(path);
  }
  if (value === null || typeof value !== 'object') throw malformed(path);
  const { server, token } = value as Record<string, unknown>;
  if (typeof server !== 'string' || typeof token !== 'string' || tokenShape(token) === undefined) throw malformed(path);
  return { server, token };
}

function malformed(path: string): InputError {
  return new InputError(`${path} does not hold a jobgate login ({"server", "token"}): run jobgate login again, or jobgate logout`);
}

/**
 * Stores the login: the directory is created with mode 0700, the file is written to a temporary
 * file of mode 0600 beside it, flushed, then renamed over the old one, so that no half-written or
 * readable copy ever exists. Returns the file's path.
 */
export function writeCredentials(env: NodeJS.ProcessEnv, login: StoredLogin): string {
  const path = credentialsPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.credentials.json.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // wx: never through a file (or a link) that is already there.
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, `${JSON.stringify({ server: login.server, token: login.token }, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Already renamed, or gone.
    }
    throw error;
  }
  return path;
}

/** Removes the stored login; false when there was none. */
export function removeCredentials(env: NodeJS.ProcessEnv): { path: string; removed: boolean } {
  const path = credentialsPath(env);
  try {
    unlinkSync(path);
    return { path, removed: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, removed: false };
    throw error;
  }
}
