import t from 'tap';
import { LABEL_SELECTOR_PARAM, scopeListQuery } from '../../src/api/query.js';
import { EMPTY_SELECTOR, formatSelector, parseSelector } from '../../src/selector/index.js';

const enc = encodeURIComponent;

// [token selector, client query, forwarded query]
const ok: Array<[string, string, string]> = [
  ['team=a', '', `labelSelector=${enc('team=a')}`],
  ['team=a', 'page=2&size=10&statusState=RUNNING', `page=2&size=10&statusState=RUNNING&labelSelector=${enc('team=a')}`],
  ['team=a', 'labelSelector=env%3Ddev', `labelSelector=${enc('team=a,env=dev')}`],
  ['team=a', 'page=1&labelSelector=env%3Ddev&size=5', `page=1&labelSelector=${enc('team=a,env=dev')}&size=5`],
  ['team=a', 'labelSelector=env+in+(dev,%20test)', `labelSelector=${enc('team=a,env in (dev,test)')}`],
  ['team=a', 'labelSelector=env=dev', `labelSelector=${enc('team=a,env=dev')}`],
  ['team==a , !gpu', 'labelSelector=team%3Db', `labelSelector=${enc('team=a,!gpu,team=b')}`],
  ['team=a', 'labelSelector=', `labelSelector=${enc('team=a')}`],
  ['team=a', 'labelSelector', `labelSelector=${enc('team=a')}`],
  ['team=a', 'labelSelector=%20%20', `labelSelector=${enc('team=a')}`],
  ['team in (a,b),env notin (prod)', 'x=%2F%26&&y', `x=%2F%26&&y&labelSelector=${enc('team in (a,b),env notin (prod)')}`],
  ['jobgate/id=nb1', 'label%53elector=env%3Ddev', `labelSelector=${enc('jobgate/id=nb1,env=dev')}`],
  ['team=a', 'x=a;b', `x=a;b&labelSelector=${enc('team=a')}`],
  ['team=a', 'labelSelectorX=1', `labelSelectorX=1&labelSelector=${enc('team=a')}`],
  // `team=` compares with the empty value: a valid selector (matching nothing here).
  ['team=a', 'labelSelector=team%3D', `labelSelector=${enc('team=a,team=')}`],
];

for (const [tokenSelector, query, expected] of ok) {
  t.test(`${tokenSelector} + ${JSON.stringify(query)}`, async (t) => {
    const result = scopeListQuery(parseSelector(tokenSelector), query);
    t.same(result, { ok: true, query: expected });
    // The forwarded selector is exactly the token's AND the client's.
    const forwarded = new URLSearchParams(expected).getAll(LABEL_SELECTOR_PARAM);
    t.equal(forwarded.length, 1);
    t.ok(forwarded[0]!.startsWith(formatSelector(parseSelector(tokenSelector))), 'the token selector comes first');
  });
}

t.test('the forwarded selector parses back to both requirements', async (t) => {
  const result = scopeListQuery(parseSelector('team=a,env!=prod'), 'labelSelector=gpu%20in%20(a100,h100)');
  t.ok(result.ok);
  const text = new URLSearchParams(result.ok ? result.query : '').get('labelSelector')!;
  t.same(parseSelector(text).requirements, [...parseSelector('team=a,env!=prod').requirements, ...parseSelector('gpu in (a100,h100)').requirements]);
});

t.test('an empty (unscoped) selector leaves the query alone', async (t) => {
  t.same(scopeListQuery(EMPTY_SELECTOR, 'labelSelector=x%3D1&labelSelector=y'), { ok: true, query: 'labelSelector=x%3D1&labelSelector=y' });
});

// [client query, expected message substring]
const bad: Array<[string, string]> = [
  ['labelSelector=a%20in%20(b', 'does not parse: unexpected end of selector'],
  ['labelSelector=-bad-', 'does not parse: invalid label key'],
  ['labelSelector=a%3Db&labelSelector=c%3Dd', 'more than one labelSelector'],
  ['labelSelector=a%3Db&labelselector=c%3Dd', '"labelselector" could be read as labelSelector'],
  // Case, Unicode case-fold and array variants, which some frameworks bind to labelSelector.
  ['LABELSELECTOR=env%3Ddev', '"LABELSELECTOR" could be read as labelSelector'],
  ['labelSelector[]=team%3Db', '"labelSelector[]" could be read as labelSelector'],
  ['labelSelector%5B%5D=team%3Db', '"labelSelector[]" could be read as labelSelector'],
  ['labelSelector[0]=team%3Db&labelSelector=x', 'could be read as labelSelector'],
  ['label%C5%BFelector=team%3Db', '"labelſelector" could be read as labelSelector'],
  ['labelſelector=team%3Db', 'could be read as labelSelector'],
  ['%E2%84%AA=1&labelSelector=x&LABELſELECTOR=team%3Db', 'could be read as labelSelector'],
  ['label_selector=team%3Db', 'could be read as labelSelector'],
  ['Label-Selector=team%3Db', 'could be read as labelSelector'],
  ['label+selector=team%3Db', 'could be read as labelSelector'],
  ['x=1;LabelSelector=team%3Db', 'could be read as labelSelector'],
  ['labelSelector=&labelSelector=', 'more than one labelSelector'],
  ['x=1;labelSelector=team%3Db', 'next to a ";"'],
  ['labelSelector=team%3Db;x=1', 'next to a ";"'],
  ['labelSelector=team%3Db%3Bx', 'does not parse'],
  ['labelSelector=%zz', 'malformed percent-encoding'],
  ['%zz=1', 'name has a malformed percent-encoding'],
  ['x=1#&labelSelector=team%3Db', 'contains "#"'],
];

for (const [query, expected] of bad) {
  t.test(`400 for ${JSON.stringify(query)}`, async (t) => {
    const result = scopeListQuery(parseSelector('team=a'), query);
    t.match(result, { ok: false, status: 400, error: 'bad_request', reason: 'bad_query' });
    t.match(!result.ok && result.message, expected);
  });
}

t.test('Cases found by mutation testing: each separator a framework drops, and the refusals in full', async (t) => {
  const selector = parseSelector('team=a');
  for (const name of ['label.selector', 'label selector', 'label_selector', 'label-selector', 'l.a_b-e l.selector', 'labelSelector[x]']) {
    const result = scopeListQuery(selector, `${encodeURIComponent(name)}=env%3Ddev`);
    t.same(
      result,
      {
        ok: false,
        status: 400,
        error: 'bad_request',
        reason: 'bad_query',
        message: `The query parameter ${JSON.stringify(name)} could be read as labelSelector. Spell it exactly labelSelector, once, without brackets.`,
      },
      name,
    );
  }
  t.same(scopeListQuery(selector, 'label,selector=1'), { ok: true, query: `label,selector=1&labelSelector=${enc('team=a')}` }, 'a "," is not dropped');
  t.same(scopeListQuery(selector, 'x=1;labelSelector=a'), {
    ok: false,
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message: 'The labelSelector parameter is next to a ";". Percent-encode ";" as %3B, or send labelSelector on its own.',
  });
  t.same(scopeListQuery(selector, 'labelSelector=%zz'), {
    ok: false,
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message: 'The labelSelector parameter has a malformed percent-encoding.',
  });
  t.same(scopeListQuery(selector, '%zz'), {
    ok: false,
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message: 'A query parameter name has a malformed percent-encoding.',
  });
  t.same(scopeListQuery(selector, 'a#'), {
    ok: false,
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message: 'The query contains "#". Percent-encode it as %23.',
  });
  t.same(scopeListQuery(selector, 'labelSelector=a+in+('), {
    ok: false,
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message: "The labelSelector parameter does not parse: unexpected end of selector at 6: expected a value, ',' or ')'.",
  });
  t.same(
    scopeListQuery(selector, 'a=b+c&labelSelector=env+%3D+dev'),
    { ok: true, query: `a=b+c&labelSelector=${enc('team=a,env=dev')}` },
    '"+" decoded as a space in the value',
  );
  t.same(scopeListQuery(selector, 'labelSelector='), { ok: true, query: `labelSelector=${enc('team=a')}` });
  t.same(scopeListQuery(selector, 'a=1&labelSelector=b&c=2'), { ok: true, query: `a=1&labelSelector=${enc('team=a,b')}&c=2` }, 'replaced in place');
});
