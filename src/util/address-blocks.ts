import { BlockList, isIP } from 'node:net';

/** An address block: `10.0.0.0/8`, `::1/128`. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Parses `address[/prefix]`; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : undefined;
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = slash === -1 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || !/^\d+$/.test(slash === -1 ? String(max) : text.slice(slash + 1))) return undefined;
  return { address, prefix, family };
}

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
