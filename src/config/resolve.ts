import { buildApiPolicy, type CompiledApiPolicy } from '../api/policy.js';
import { loadAssertionKeys, type AssertionKeys } from '../assertion/keys.js';
import { InputError } from '../errors.js';
import { redisTopology, type RedisTopology } from '../redis/topology.js';
import { HostRouter } from '../routing/host.js';
import type { Mode } from '../routing/mode.js';
import { sessionKeys, type SessionKeys } from '../session/keys.js';
import { AddressBlocks } from '../util/address-blocks.js';
import type { ListenAddress, Settings } from './settings.js';

/** The training API: which Host headers are API traffic, where it goes, its route policy, and how much of a body it reads. */
export interface ApiSettings {
  readonly hosts: ReadonlySet<string>;
  readonly upstream: URL;
  readonly policy: CompiledApiPolicy;
  readonly maxBodyBytes: number;
}

/** The forward-auth decision endpoint: where it listens and whose X-Forwarded-* it believes. */
export interface ForwardAuthSettings {
  readonly listen: ListenAddress;
  readonly trusted: AddressBlocks;
}

/** The settings checked together, with what they imply: what start-up needs, built before anything opens. */
export interface ResolvedSettings {
  /** Every setting as loaded (timeouts, sizes, addresses used as they are). */
  readonly settings: Settings;
  readonly mode: Mode;
  /** Undefined without JOBGATE_API_HOST. */
  readonly api: ApiSettings | undefined;
  /** The control API's host name (as hostName() reads a Host header); undefined without JOBGATE_CONTROL_HOST. */
  readonly controlHost: string | undefined;
  /** Undefined without JOBGATE_AUTHZ_LISTEN. */
  readonly forwardAuth: ForwardAuthSettings | undefined;
  readonly topology: RedisTopology;
  readonly assertionKeys: AssertionKeys;
  readonly cookieKeys: SessionKeys;
}

/**
 * Checks the settings that only make sense together and derives what start-up needs, without
 * opening a connection. Throws InputError (exit 2) naming the setting. `serve --workers` calls
 * it once before forking, so that bad settings are refused once, as without workers.
 */
export async function resolveSettings(settings: Settings): Promise<ResolvedSettings> {
  const mode = modeOf(settings);
  const api = apiOf(settings);
  // Standalone, Sentinel or Cluster, and the key prefix: an impossible combination stops here.
  const topology = redisTopology(settings);
  const assertionKeys = await loadAssertionKeys(settings.assertionKeys, settings.assertionKeyFiles ?? [], settings.assertionAlg);
  const forwardAuth = settings.authzListen === undefined ? undefined : { listen: settings.authzListen, trusted: new AddressBlocks(settings.authzTrusted) };
  const controlHost = controlHostOf(settings);
  return { settings, mode, api, controlHost, forwardAuth, topology, assertionKeys, cookieKeys: sessionKeys(settings.cookieSecret ?? []) };
}

/** The control host may not also name a job or the training API: one host name, one meaning. */
function controlHostOf({ controlHost, jobDomain, apiHost }: Settings): string | undefined {
  if (controlHost === undefined) return undefined;
  if (jobDomain !== undefined && (controlHost === jobDomain || controlHost.endsWith(`.${jobDomain}`)))
    throw new InputError(
      `invalid setting JOBGATE_CONTROL_HOST: "${controlHost}" is under the job domain ${jobDomain}, where host names name jobs; choose a host outside it`,
    );
  if (apiHost?.includes(controlHost))
    throw new InputError(`invalid setting JOBGATE_CONTROL_HOST: "${controlHost}" is also a training-API host (JOBGATE_API_HOST)`);
  return controlHost;
}

/** Gateway (job id from the Host) or sidecar (one job); an incomplete sidecar pair or neither is refused. */
function modeOf(settings: Settings): Mode {
  const { sidecarJob, sidecarUpstream, jobDomain } = settings;
  if (sidecarJob !== undefined || sidecarUpstream !== undefined) {
    if (sidecarJob === undefined) throw new InputError('invalid setting JOBGATE_SIDECAR_JOB: required when JOBGATE_SIDECAR_UPSTREAM is set (sidecar mode)');
    if (sidecarUpstream === undefined)
      throw new InputError('invalid setting JOBGATE_SIDECAR_UPSTREAM: required when JOBGATE_SIDECAR_JOB is set (sidecar mode)');
    return { kind: 'sidecar', jobId: sidecarJob, upstream: new URL(sidecarUpstream) };
  }
  if (jobDomain === undefined) {
    throw new InputError(
      'invalid setting JOBGATE_JOB_DOMAIN: required in gateway mode; expected a DNS name such as job.example.com (or set JOBGATE_SIDECAR_JOB and JOBGATE_SIDECAR_UPSTREAM for sidecar mode)',
    );
  }
  return { kind: 'gateway', router: new HostRouter(jobDomain) };
}

/** The API hosts and their upstream come together or not at all. */
function apiOf(settings: Settings): ApiSettings | undefined {
  if (settings.apiHost === undefined) {
    if (settings.apiUpstream !== undefined) throw new InputError('invalid setting JOBGATE_API_HOST: required when JOBGATE_API_UPSTREAM is set');
    return undefined;
  }
  if (settings.apiUpstream === undefined)
    throw new InputError('invalid setting JOBGATE_API_UPSTREAM: required when JOBGATE_API_HOST is set; expected an http:// or https:// URL');
  return {
    hosts: new Set(settings.apiHost),
    upstream: new URL(settings.apiUpstream),
    policy: buildApiPolicy(settings.apiRules ?? []),
    maxBodyBytes: settings.apiMaxBodyBytes,
  };
}
