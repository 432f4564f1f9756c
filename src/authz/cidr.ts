import { BlockList, isIP } from 'node:net';
import type { Cidr } from '../config/settings.js';

/** A set of address blocks; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) count as IPv4. */
export class AddressBlocks {
  private readonly list = new BlockList();

  constructor(blocks: readonly Cidr[]) {
    for (const block of blocks) this.list.addSubnet(block.address, block.prefix, block.family);
  }

  has(address: string | undefined): boolean {
    if (!address) return false;
    const mapped = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(mapped);
    if (family === 0) return false;
    return this.list.check(mapped, family === 4 ? 'ipv4' : 'ipv6');
  }
}
