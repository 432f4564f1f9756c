import { networkInterfaces } from 'node:os';

/**
 * An IPv4 address of this machine that is not loopback: a connection to it comes from it, so a
 * server sees a non-loopback client without leaving the machine. Undefined on a machine with no
 * network interface but lo.
 */
export function nonLoopbackAddress(): string | undefined {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  return undefined;
}
