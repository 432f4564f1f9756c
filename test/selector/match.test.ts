import t from 'tap';
import { EMPTY_SELECTOR, parseSelector } from '../../src/selector/parse.js';
import { compareInt64 } from '../../src/selector/integer.js';
import { equalityLabels, matches } from '../../src/selector/match.js';
import { labels } from '../helpers/fixtures.js';

const none = labels({});
const prod = labels({ env: 'prod', 'ovh/id': 'abc', gpu: '' });
const dev = labels({ env: 'dev', 'ovh/id': 'xyz' });

t.test('empty selector matches every job', async (t) => {
  for (const l of [none, prod, dev]) t.ok(matches(EMPTY_SELECTOR, l));
  t.ok(matches(parseSelector('  '), prod));
});

t.test('each operator with the key present and absent', async (t) => {
  // [selector, matches prod, matches dev, matches a job without labels]
  const table: Array<[string, boolean, boolean, boolean]> = [
    ['env=prod', true, false, false],
    ['env==prod', true, false, false],
    ['env!=prod', false, true, true],
    ['env in (prod,staging)', true, false, false],
    ['env in (staging)', false, false, false],
    ['env notin (prod,staging)', false, true, true],
    ['env notin (qa)', true, true, true],
    ['env', true, true, false],
    ['!env', false, false, true],
    ['ovh/id=abc', true, false, false],
    ['gpu=', true, false, false],
    ['gpu!=', false, true, true],
    ['gpu', true, false, false],
    ['!gpu', false, true, true],
    ['gpu in (,x)', true, false, false],
    ['gpu notin (,x)', false, true, true],
    ['gpu in ()', true, false, false],
    ['gpu notin ()', false, true, true],
    ['env=prod,ovh/id=abc', true, false, false],
    ['env=prod,ovh/id=xyz', false, false, false],
    ['env,!gpu', false, true, false],
    ['env in (prod,dev),ovh/id notin (abc)', false, true, false],
  ];
  for (const [text, onProd, onDev, onNone] of table) {
    const s = parseSelector(text);
    t.equal(matches(s, prod), onProd, `${text} on prod`);
    t.equal(matches(s, dev), onDev, `${text} on dev`);
    t.equal(matches(s, none), onNone, `${text} on no labels`);
  }
});

t.test('equalityLabels: labels a matching job must carry', async (t) => {
  t.same(equalityLabels(EMPTY_SELECTOR), new Map());
  t.same(
    equalityLabels(parseSelector('a=1,b==2,c in (3),d in (4,5),e!=6,f notin (7),g,!h,i in (8,8),j=')),
    new Map([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
      ['i', '8'],
      ['j', ''],
    ]),
  );
  t.same(equalityLabels(parseSelector('a=1,a in (2)')), new Map([['a', '1']]), 'first pin of a key wins');
  const required = equalityLabels(parseSelector('env=prod,ovh/id in (abc),gpu'));
  t.ok(matches(parseSelector('env=prod,ovh/id in (abc)'), required), 'the labels satisfy the equalities');
});

t.test('Cases found by mutation testing', async (t) => {
  t.test('compareInt64 on its own: negative numbers on both sides, and NaN when either side is no integer', async (t) => {
    // A selector's own value is never negative (a label value starts with a letter or digit), so matches() never gets here.
    t.equal(compareInt64('-2', '-1'), -1);
    t.equal(compareInt64('-1', '-2'), 1);
    t.equal(compareInt64('-7', '-7'), 0);
    t.ok(Number.isNaN(compareInt64('1', 'x')), 'the second is not an integer');
    t.ok(Number.isNaN(compareInt64('x', '1')), 'the first is not an integer');
  });
});
