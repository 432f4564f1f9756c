import t from 'tap';
import { parseSelector, SelectorError, sharedSelector } from '../../src/selector/index.js';
import { tokenFromHash } from '../../src/tokens/record.js';
import { storedTokenHash } from '../helpers/fixtures.js';

t.test('one parsed selector per text, equal to what parseSelector gives', async (t) => {
  const first = sharedSelector('team=vision,env in (dev,prod)');
  t.same(first, parseSelector('team=vision,env in (dev,prod)'));
  t.equal(sharedSelector('team=vision,env in (dev,prod)'), first, 'the same object the second time');
  t.not(sharedSelector('team=vision'), first);
  t.same(sharedSelector('team=vision').requirements, [{ op: 'eq', key: 'team', value: 'vision' }]);
});

t.test('a text that does not parse throws every time and is not remembered', async (t) => {
  t.throws(() => sharedSelector('team in (a'), SelectorError);
  t.throws(() => sharedSelector('team in (a'), SelectorError);
});

t.test('token records with the same selector text share its parsed form', async (t) => {
  const record = (id: string) => tokenFromHash(`jobgate:token:${id}`, id, { ...storedTokenHash(id), labelSelector: 'project=shared' });
  const a = record('00000000-0000-4000-8000-000000000001');
  const b = record('00000000-0000-4000-8000-000000000002');
  t.equal(a.selector, b.selector);
  t.equal(a.labelSelector, 'project=shared');
});
