import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError, PortInUseError } from '../errors.js';

/** Where a listener opens: host and port, as the settings hold them. */
export interface ListenAt {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, with an IPv6 host in brackets, as the setting is written. */
export function formatListenAddress({ host, port }: ListenAt): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Opens `server` on `address`. A failure names `setting` (JOBGATE_LISTEN, JOBGATE_ADMIN_LISTEN...)
 * and the address on one line: PortInUseError when another process holds it, InputError when the
 * address itself cannot work here (not an address of this machine, a privileged port...).
 */
export async function listenOn(server: Server, address: ListenAt, setting: string): Promise<AddressInfo> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw listenError(error as NodeJS.ErrnoException, address, setting);
  }
  return server.address() as AddressInfo;
}

function listenError(error: NodeJS.ErrnoException, address: ListenAt, setting: string): Error {
  const shown = formatListenAddress(address);
  switch (error.code) {
    case 'EADDRINUSE':
      return new PortInUseError(setting, shown);
    case 'EACCES':
      return new InputError(`${setting} ${shown}: permission denied (ports below 1024 need privileges); choose a port from 1024 up`);
    case 'EADDRNOTAVAIL':
      return new InputError(`${setting} ${shown}: ${address.host} is not an address of this machine`);
    case 'ENOTFOUND':
      return new InputError(`${setting} ${shown}: the host name ${address.host} does not resolve`);
    default:
      return new InputError(`${setting} ${shown}: cannot listen: ${error.message}`);
  }
}
