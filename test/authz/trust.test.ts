import t from 'tap';
import { AddressBlocks } from '../../src/util/address-blocks.js';
import { loadSettings } from '../../src/config/load.js';

/** JOBGATE_AUTHZ_TRUSTED: which peers the decision endpoint believes. */

const blocks = (text?: string) =>
  new AddressBlocks(loadSettings({ env: { JOBGATE_JOB_DOMAIN: 'job.test', ...(text === undefined ? {} : { JOBGATE_AUTHZ_TRUSTED: text }) } }).authzTrusted);

t.test('the default: loopback only', async (t) => {
  const trusted = blocks();
  for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) t.ok(trusted.has(address), `${address} is trusted`);
  for (const address of ['10.0.0.1', '192.168.1.1', '::2', '::ffff:10.0.0.1', 'fe80::1', '', undefined, 'localhost', 'not an address'])
    t.notOk(trusted.has(address), `${String(address)} is not`);
});

t.test('CIDR lists, IPv4 and IPv6; IPv4-mapped addresses count as IPv4', async (t) => {
  const trusted = blocks(' 10.0.0.0/8 , fd00::/8,192.0.2.7');
  t.ok(trusted.has('10.255.0.1'));
  t.ok(trusted.has('::ffff:10.1.2.3'), 'IPv4-mapped');
  t.ok(trusted.has('fd12:3456::1'));
  t.ok(trusted.has('192.0.2.7'), 'a bare address is a /32');
  t.notOk(trusted.has('192.0.2.8'));
  t.notOk(trusted.has('127.0.0.1'), 'loopback is no longer trusted once the list is set');
  t.notOk(trusted.has('fe00::1'));
});

t.test('a bad block stops start-up', async (t) => {
  for (const text of ['10.0.0.0/33', 'not-a-cidr', '10.0.0.0/x', ',', '::1/129']) {
    t.throws(() => blocks(text), /JOBGATE_AUTHZ_TRUSTED/, JSON.stringify(text));
  }
});
