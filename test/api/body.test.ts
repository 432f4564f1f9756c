import t from 'tap';
import { MAX_API_BODY_BYTES, bodyPreflight, checkRelabel, inspectApiBody, isReservedLabel, mergeCreateLabels } from '../../src/api/body.js';
import { parseSelector, type Labels } from '../../src/selector/index.js';

const JSON_TYPE = 'application/json';
const buf = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const sel = parseSelector;

t.test('MAX_API_BODY_BYTES is 1 MiB', async (t) => {
  t.equal(MAX_API_BODY_BYTES, 1048576);
});

// [selector, body (object or raw text), merged labels]
const merges: Array<[string, unknown, Record<string, string>]> = [
  ['team=a', { image: 'x' }, { team: 'a' }],
  ['team=a', { image: 'x', labels: {} }, { team: 'a' }],
  ['team=a', { labels: { team: 'a' } }, { team: 'a' }],
  ['team==a', { labels: { env: 'dev' } }, { env: 'dev', team: 'a' }],
  ['team in (a)', { labels: {} }, { team: 'a' }],
  ['team in (a,b)', { labels: { team: 'b' } }, { team: 'b' }],
  ['team=a,env!=prod', { labels: { env: 'dev' } }, { env: 'dev', team: 'a' }],
  ['team=a,env!=prod', {}, { team: 'a' }],
  ['team=a,env notin (prod,staging)', { labels: { env: 'dev' } }, { env: 'dev', team: 'a' }],
  ['team=a,!gpu', {}, { team: 'a' }],
  ['team=a,gpu', { labels: { gpu: 'a100' } }, { gpu: 'a100', team: 'a' }],
  ['team=a,x.io/owner=bob', { labels: { z: '1' } }, { z: '1', team: 'a', 'x.io/owner': 'bob' }],
  ['jobgate/id!=secret,team=a', {}, { team: 'a' }],
  ['!jobgate/owner', {}, {}],
  ['team=', {}, { team: '' }],
];

for (const [selector, body, expected] of merges) {
  t.test(`create with ${selector}: ${JSON.stringify(body)} -> labels ${JSON.stringify(expected)}`, async (t) => {
    const result = mergeCreateLabels(sel(selector), JSON_TYPE, buf(body));
    if (!t.ok(result.ok, JSON.stringify(result))) return;
    const forwarded = JSON.parse(result.ok ? result.body.toString() : '') as { labels?: Record<string, string>; [field: string]: unknown };
    // Nothing to add: the body goes as it came, without a "labels" member if it had none.
    t.same(forwarded.labels ?? {}, expected);
    t.same(Object.keys(forwarded.labels ?? {}), Object.keys(expected), 'client labels first, merged ones after');
    t.same({ ...forwarded, labels: undefined }, { ...(body as object), labels: undefined }, 'other fields untouched');
  });
}

t.test('create: the body is forwarded byte for byte, with only the added labels inserted', async (t) => {
  const body = '{"name":"train","labels":{"env":"dev"},"resources":{"gpu":1.0,"cpu":2.5,"big":12345678901234567890},"env":[{"k":"v"}],"ok":false}';
  const result = mergeCreateLabels(sel('team=a'), 'Application/JSON; charset="UTF-8"', Buffer.from(body));
  t.same(result, {
    ok: true,
    body: Buffer.from(
      '{"name":"train","labels":{"env":"dev","team":"a"},"resources":{"gpu":1.0,"cpu":2.5,"big":12345678901234567890},"env":[{"k":"v"}],"ok":false}',
    ),
  });
  const spaced = '{ "labels" : { } ,\n "x" : "é" }\n';
  t.equal(
    mergeCreateLabels(sel('team=a,env=dev'), JSON_TYPE, Buffer.from(spaced)).ok &&
      (mergeCreateLabels(sel('team=a,env=dev'), JSON_TYPE, Buffer.from(spaced)) as { body: Buffer }).body.toString(),
    '{ "labels" : { "team":"a","env":"dev"} ,\n "x" : "é" }\n',
  );
  t.equal((mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from(' { } ')) as { body: Buffer }).body.toString(), ' { "labels":{"team":"a"}} ');
  t.equal((mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from('{"x":[{}]}')) as { body: Buffer }).body.toString(), '{"x":[{}],"labels":{"team":"a"}}');
  const unchanged = Buffer.from('{"labels":{"team":"a","owner":"me"},"n":1e400}');
  const same = mergeCreateLabels(sel('team=a'), JSON_TYPE, unchanged);
  t.ok(same.ok && same.body.equals(unchanged), 'nothing to add: the very bytes sent');
});

// [body, message substring]: keys jobgate reads, given twice or in another letter case.
const ambiguous: Array<[string, string]> = [
  ['{"labels":{"team":"a"},"Labels":{"team":"b"}}', 'The key "Labels" at the top level of the body differs from "labels" only in letter case'],
  ['{"Labels":{"team":"b"}}', '"Labels" at the top level'],
  ['{"LABELS":{}}', '"LABELS"'],
  ['{"labelſ":{"team":"b"}}', '"labelſ"'],
  ['{"label\\u017f":{"team":"b"}}', '"labelſ"'],
  ['{"\\u004cabels":{"team":"b"}}', '"Labels"'],
  ['{"labels":{"team":"b"},"labels":{"team":"a"}}', 'The key "labels" appears more than once at the top level of the body'],
  ['{"l\\u0061bels":{"team":"b"},"labels":{"team":"a"}}', 'appears more than once'],
  ['{"labels":{"team":"a","team":"b"}}', 'The key "team" appears more than once in "labels"'],
  ['{"labels":{"team":"a","Team":"b"}}', 'The key "Team" in "labels" differs from "team" only in letter case'],
  ['{"labels":{"kind":"a","\u212aind":"b"}}', 'differs from "kind"'],
  ['{"labels":{"team":"a","teaM":"a"}}', 'differs from "team"'],
];

for (const [body, message] of ambiguous) {
  t.test(`create: ${body} -> 400`, async (t) => {
    t.match(mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from(body)), { ok: false, status: 400, error: 'bad_request', reason: 'bad_body', message });
  });
}

t.test('create: keys jobgate does not read may repeat; nesting is bounded', async (t) => {
  const body = Buffer.from('{"image":"x","Image":"y","spec":{"labels":{"a":"1"},"Labels":{},"a":1,"a":2},"list":[{"labels":1,"labels":2}]}');
  const result = mergeCreateLabels(sel('team=a'), JSON_TYPE, body);
  t.ok(result.ok, 'only the top-level "labels" and its keys are read');
  const deep = `{"x":${'['.repeat(300)}${']'.repeat(300)}}`;
  t.match(mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from(deep)), { ok: false, status: 400, message: /more than 256 levels/ });
  const fine = `{"x":${'['.repeat(250)}${']'.repeat(250)}}`;
  t.ok(mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from(fine)).ok);
});

t.test('create: a top-level "_method" is refused (Laravel runs the request as that method)', async (t) => {
  for (const body of ['{"_method":"DELETE","labels":{}}', '{"labels":{},"_METHOD":"put"}', '{"_Method":"DELETE"}']) {
    t.match(mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from(body)), { ok: false, status: 400, reason: 'bad_body', message: /another method/ }, body);
  }
  t.ok(
    mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from('{"labels":{"_method":"x"},"x":{"_method":1}}')).ok === false,
    'a label key that is not a label is still refused as such',
  );
  t.ok(mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from('{"x":{"_method":"DELETE"},"method":"x"}')).ok, 'nested or without "_": not read as a method');
});

t.test('create: a BOM is kept, a "__proto__" key stays data', async (t) => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const result = mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.concat([bom, buf({ __proto__x: 1 })]));
  t.same(result.ok && result.body, Buffer.concat([bom, Buffer.from('{"__proto__x":1,"labels":{"team":"a"}}')]));
  const proto = mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from('{"__proto__":{"polluted":true}}'));
  t.equal(proto.ok && proto.body.toString(), '{"__proto__":{"polluted":true},"labels":{"team":"a"}}');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  const children = mergeCreateLabels(sel('team=a'), JSON_TYPE, Buffer.from('{"toString":{"team":"b","team":"c"},"constructor":{}}'));
  t.ok(children.ok, 'keys named like Object.prototype members are not read as watched children');
});

// [selector, content type, body, status, reason, message substring]
const refusals: Array<[string, string | undefined, unknown, number, string, string]> = [
  ['team=a', undefined, {}, 415, 'unsupported_media_type', 'no Content-Type'],
  ['team=a', 'text/plain', {}, 415, 'unsupported_media_type', 'not application/json'],
  ['team=a', 'application/jsonx', {}, 415, 'unsupported_media_type', 'not application/json'],
  ['team=a', 'application/x-www-form-urlencoded', 'labels=x', 415, 'unsupported_media_type', 'not application/json'],
  ['team=a', 'application/json; charset=latin1', {}, 415, 'unsupported_media_type', 'charset "latin1"'],
  ['team=a', JSON_TYPE, '', 400, 'bad_body', 'not valid JSON'],
  ['team=a', JSON_TYPE, '{"labels":', 400, 'bad_body', 'not valid JSON'],
  ['team=a', JSON_TYPE, '{labels: {}}', 400, 'bad_body', 'not valid JSON'],
  ['team=a', JSON_TYPE, Buffer.from([0x7b, 0xff, 0x7d]), 400, 'bad_body', 'not valid UTF-8'],
  ['team=a', JSON_TYPE, [], 400, 'bad_body', 'must be a JSON object'],
  ['team=a', JSON_TYPE, 'null', 400, 'bad_body', 'must be a JSON object'],
  ['team=a', JSON_TYPE, '"x"', 400, 'bad_body', 'must be a JSON object'],
  ['team=a', JSON_TYPE, { labels: null }, 400, 'bad_body', '"labels" field must be a JSON object'],
  ['team=a', JSON_TYPE, { labels: ['team=a'] }, 400, 'bad_body', '"labels" field must be a JSON object'],
  ['team=a', JSON_TYPE, { labels: 'team=a' }, 400, 'bad_body', '"labels" field must be a JSON object'],
  ['team=a', JSON_TYPE, { labels: { team: 1 } }, 400, 'bad_body', 'must have a string value'],
  ['team=a', JSON_TYPE, { labels: { team: null } }, 400, 'bad_body', 'must have a string value'],
  ['team=a', JSON_TYPE, { labels: { 'bad key': 'x' } }, 400, 'bad_body', 'Invalid label: label key "bad key"'],
  ['team=a', JSON_TYPE, { labels: { env: 'not ok' } }, 400, 'bad_body', 'Invalid label: label "env" value "not ok"'],
  ['team=a', JSON_TYPE, { labels: { 'jobgate/id': 'nb1' } }, 403, 'reserved_label', 'remove "jobgate/id"'],
  ['team=a', JSON_TYPE, { labels: { 'jobgate/owner': 'x' } }, 403, 'reserved_label', 'are set by jobgate'],
  ['team=a', JSON_TYPE, { labels: { team: 'b' } }, 403, 'label_scope_denied', 'team=b contradicts'],
  ['team in (a)', JSON_TYPE, { labels: { team: 'b' } }, 403, 'label_scope_denied', 'contradicts'],
  ['team=a,team=b', JSON_TYPE, {}, 403, 'label_scope_denied', 'would not satisfy "team=b"'],
  ['team=a,env!=prod', JSON_TYPE, { labels: { env: 'prod' } }, 403, 'label_scope_denied', 'would not satisfy "env!=prod"'],
  ['team=a,env notin (prod)', JSON_TYPE, { labels: { env: 'prod' } }, 403, 'label_scope_denied', '"env notin (prod)"'],
  ['team=a,!gpu', JSON_TYPE, { labels: { gpu: 'a100' } }, 403, 'label_scope_denied', '"!gpu"'],
  ['team=a,gpu', JSON_TYPE, {}, 403, 'label_scope_denied', 'would not satisfy "gpu"'],
  ['team in (a,b)', JSON_TYPE, {}, 403, 'label_scope_denied', '"team in (a,b)"'],
  ['team in (a,b)', JSON_TYPE, { labels: { team: 'c' } }, 403, 'label_scope_denied', '"team in (a,b)"'],
  ['jobgate/id=nb1', JSON_TYPE, {}, 403, 'label_scope_denied', 'a label that jobgate sets'],
  ['team=a,jobgate/id in (nb1)', JSON_TYPE, {}, 403, 'label_scope_denied', 'a label that jobgate sets'],
];

for (const [selector, contentType, body, status, reason, message] of refusals) {
  const shown = Buffer.isBuffer(body) ? body.toString('hex') : JSON.stringify(body);
  t.test(`create with ${selector}, ${contentType}, ${shown} -> ${status} ${reason}`, async (t) => {
    const result = mergeCreateLabels(sel(selector), contentType, Buffer.isBuffer(body) ? body : buf(body));
    t.match(result, { ok: false, status, reason, message });
    if (!result.ok) {
      const error = {
        400: 'bad_request',
        403: reason === 'reserved_label' ? 'forbidden' : 'insufficient_scope',
        413: 'payload_too_large',
        415: 'unsupported_media_type',
      }[result.status];
      t.equal(result.error, error);
    }
  });
}

t.test('create: size bound (413), default and given', async (t) => {
  const padding = 'x'.repeat(MAX_API_BODY_BYTES);
  t.match(mergeCreateLabels(sel('team=a'), JSON_TYPE, buf({ padding })), { ok: false, status: 413, reason: 'body_too_large', error: 'payload_too_large' });
  const exact = buf({ p: 'x'.repeat(MAX_API_BODY_BYTES - 8) });
  t.equal(exact.length, MAX_API_BODY_BYTES);
  t.ok(mergeCreateLabels(sel('team=a'), JSON_TYPE, exact).ok, 'exactly at the limit passes');
  t.match(mergeCreateLabels(sel('team=a'), JSON_TYPE, buf({ a: 'xxxx' }), 10), { ok: false, status: 413, message: /larger than 10 bytes/ });
  t.ok(mergeCreateLabels(sel('team=a'), JSON_TYPE, buf({}), 10).ok);
  t.match(mergeCreateLabels(sel('team=a'), 'text/plain', buf({ a: 'xxxx' }), 10), { status: 415 }, 'content type is checked first');
});

t.test('bodyPreflight: before buffering', async (t) => {
  const pre = (contentType: string | undefined, contentLength?: string, contentEncoding?: string, max?: number) =>
    bodyPreflight({ 'content-type': contentType, 'content-length': contentLength, 'content-encoding': contentEncoding }, max);
  t.equal(pre(JSON_TYPE, '100'), undefined);
  t.equal(pre('application/json;charset=utf-8'), undefined);
  t.equal(pre(' application/json ; charset=utf8 ; foo=bar'), undefined);
  t.equal(pre('application/json; foo'), undefined, 'a parameter without "=" is ignored');
  t.equal(pre(JSON_TYPE, String(MAX_API_BODY_BYTES)), undefined);
  t.equal(pre(JSON_TYPE, undefined, 'identity'), undefined);
  t.equal(pre(JSON_TYPE, undefined, ' Identity '), undefined);
  t.equal(pre(JSON_TYPE, undefined, ''), undefined);
  t.equal(bodyPreflight({ 'content-type': JSON_TYPE }), undefined, 'absent headers');
  t.match(pre(JSON_TYPE, String(MAX_API_BODY_BYTES + 1)), { ok: false, status: 413, reason: 'body_too_large' });
  t.match(pre(JSON_TYPE, '11', undefined, 10), { ok: false, status: 413 });
  t.match(pre(undefined, '1'), { ok: false, status: 415 });
  t.match(pre('application/json; charset=utf-16', '1'), { ok: false, status: 415 });
  t.match(pre(JSON_TYPE, '1', 'gzip'), { ok: false, status: 415, reason: 'unsupported_media_type', message: /Content-Encoding "gzip"/ });
  t.match(pre(JSON_TYPE, '1', 'br, identity'), { ok: false, status: 415 });
});

const jobLabels: Labels = new Map([
  ['team', 'a'],
  ['env', 'dev'],
  ['jobgate/id', 'nb1'],
]);

// [selector, body, expected status (undefined: ok), reason, message substring]
const relabels: Array<[string, unknown, number | undefined, string, string]> = [
  ['team=a', { name: 'env', value: 'prod' }, undefined, '', ''],
  ['team=a', { name: 'team', value: 'a' }, undefined, '', ''],
  ['team=a,env', { name: 'env', value: '' }, 403, 'label_scope_denied', 'would not satisfy "env"'],
  ['team=a,env!=x', { name: 'env', value: '' }, undefined, '', ''],
  ['team=a,!gpu', { name: 'gpu', value: '' }, 403, 'label_scope_denied', '"!gpu"'],
  ['team=a', { name: 'team', value: '' }, 403, 'label_scope_denied', '"team=a"'],
  ['team=a', { name: 'team', value: 'b' }, 403, 'label_scope_denied', "would move the job out of the token's scope"],
  ['team=a,env!=prod', { name: 'env', value: 'prod' }, 403, 'label_scope_denied', '"env!=prod"'],
  ['team=a,env!=prod', { name: 'env', value: 'test' }, undefined, '', ''],
  ['team=a,!gpu', { name: 'gpu', value: 'a100' }, 403, 'label_scope_denied', '"!gpu"'],
  ['team in (a,b)', { name: 'team', value: 'b' }, undefined, '', ''],
  ['team in (a,b)', { name: 'team', value: 'c' }, 403, 'label_scope_denied', '"team in (a,b)"'],
  ['team=a,env notin (prod)', { name: 'env', value: 'prod' }, 403, 'label_scope_denied', '"env notin (prod)"'],
  ['jobgate/id=nb1', { name: 'owner', value: 'bob' }, undefined, '', ''],
  ['team=b', { name: 'team', value: 'b' }, 403, 'label_scope_denied', 'does not match this job'],
  ['team=a', { name: 'jobgate/id', value: 'nb2' }, 403, 'reserved_label', 'remove "jobgate/id"'],
  ['team=a', { name: 'team' }, 400, 'bad_body', '{"name": "<label key>", "value": "<label value>"}'],
  ['team=a', { name: 'team', value: null }, 400, 'bad_body', 'both strings'],
  ['team=a', { value: 'a' }, 400, 'bad_body', 'both strings'],
  ['team=a', { name: 5, value: 'a' }, 400, 'bad_body', 'both strings'],
  ['team=a', { name: 'Bad Key', value: 'a' }, 400, 'bad_body', 'Invalid label'],
  ['team=a', { name: 'env', value: '-x-' }, 400, 'bad_body', 'Invalid label'],
  ['team=a', { name: 'env', value: 'x', labels: { team: 'b' } }, 400, 'bad_body', 'Unexpected field "labels"'],
  ['team=a', { value: 'x', name: 'env', force: true }, 400, 'bad_body', 'Unexpected field "force"'],
  ['team=a', '[]', 400, 'bad_body', 'must be a JSON object'],
  ['team=a', '{', 400, 'bad_body', 'not valid JSON'],
];

for (const [selector, body, status, reason, message] of relabels) {
  t.test(`relabel with ${selector}: ${JSON.stringify(body)} -> ${status ?? 'ok'}`, async (t) => {
    const result = checkRelabel(sel(selector), jobLabels, JSON_TYPE, buf(body));
    if (status === undefined) t.same(result, { ok: true, body: buf(body) });
    else t.match(result, { ok: false, status, reason, message });
  });
}

t.test('relabel: content type, size, re-serialization', async (t) => {
  t.match(checkRelabel(sel('team=a'), jobLabels, 'text/plain', buf({ name: 'env', value: 'x' })), { ok: false, status: 415 });
  t.match(checkRelabel(sel('team=a'), jobLabels, undefined, buf({ name: 'env', value: 'x' })), { ok: false, status: 415 });
  t.match(checkRelabel(sel('team=a'), jobLabels, JSON_TYPE, buf({ name: 'env', value: 'x' }), 5), { ok: false, status: 413 });
  const twice = checkRelabel(sel('team=a'), jobLabels, JSON_TYPE, Buffer.from('{"name":"team","value":"b","name":"env"}'));
  t.match(twice, { ok: false, status: 400, message: /"name" appears more than once/ }, 'a repeated field is refused');
  t.match(checkRelabel(sel('team=a'), jobLabels, JSON_TYPE, Buffer.from('{"name":"env","value":"b","NAME":"team"}')), {
    ok: false,
    status: 400,
    message: /"NAME" .*differs from "name"/,
  });
  t.match(checkRelabel(sel('team=a'), jobLabels, JSON_TYPE, Buffer.from('{"name":"env","value":"b","valuſ":"x"}')), {
    ok: false,
    status: 400,
    message: /"valuſ"/,
  });
  const spaced = Buffer.from(' {"name" : "env", "value":"b"} ');
  t.same(checkRelabel(sel('team=a'), jobLabels, JSON_TYPE, spaced), { ok: true, body: spaced }, 'forwarded byte for byte');
  t.equal(jobLabels.get('team'), 'a', "the job's labels are not modified");
});

t.test('inspectApiBody: preflight, then the check', async (t) => {
  const headers = { 'content-type': JSON_TYPE };
  const create = inspectApiBody({ op: 'create', selector: sel('team=a') }, headers, buf({}));
  t.same(create, { ok: true, body: buf({ labels: { team: 'a' } }) });
  const relabel = inspectApiBody({ op: 'relabel', selector: sel('team=a'), jobLabels }, headers, buf({ name: 'team', value: 'b' }));
  t.match(relabel, { ok: false, status: 403 });
  t.same(inspectApiBody({ op: 'relabel', selector: sel('team=a'), jobLabels }, headers, buf({ name: 'env', value: 'b' })), {
    ok: true,
    body: buf({ name: 'env', value: 'b' }),
  });
  t.match(inspectApiBody({ op: 'create', selector: sel('team=a') }, headers, buf({ a: 'xxxxxxxx' }), 4), { ok: false, status: 413 });
  t.match(
    inspectApiBody({ op: 'create', selector: sel('team=a') }, { ...headers, 'content-length': '99' }, buf({}), 4),
    { ok: false, status: 413 },
    'declared length',
  );
  t.match(inspectApiBody({ op: 'create', selector: sel('team=a') }, { ...headers, 'content-encoding': 'gzip' }, buf({}), 4), { ok: false, status: 415 });
  t.match(inspectApiBody({ op: 'create', selector: sel('team=a') }, {}, buf({})), { ok: false, status: 415 });
});

t.test('isReservedLabel', async (t) => {
  t.ok(isReservedLabel('jobgate/id'));
  t.notOk(isReservedLabel('jobgate.io/id'));
  t.notOk(isReservedLabel('team'));
});

t.test('Cases found by mutation testing: the Content-Type and Content-Encoding refusals in full', async (t) => {
  const expected = 'Send the body as JSON with "Content-Type: application/json".';
  const pre = (contentType: string | undefined, contentEncoding?: string) =>
    bodyPreflight({ 'content-type': contentType, 'content-encoding': contentEncoding });
  const refused = (message: string) => ({ ok: false, status: 415, error: 'unsupported_media_type', reason: 'unsupported_media_type', message });
  t.same(pre(undefined), refused(`The request has no Content-Type. ${expected}`));
  t.same(pre('text/json'), refused(`The Content-Type is not application/json. ${expected}`));
  t.same(pre('application/json; CHARSET=Latin1'), refused('The charset "latin1" is not supported. Send UTF-8 JSON.'));
  t.same(pre('application/json; charset="utf-8'), refused('The charset "\\"utf-8" is not supported. Send UTF-8 JSON.'), 'an unbalanced quote is kept');
  t.same(pre('application/json; charset=utf-8"'), refused('The charset "utf-8\\"" is not supported. Send UTF-8 JSON.'));
  t.same(pre('application/json; charset=""'), refused('The charset "" is not supported. Send UTF-8 JSON.'));
  t.same(pre('application/json; charset=x"utf-8"'), refused('The charset "x\\"utf-8\\"" is not supported. Send UTF-8 JSON.'));
  t.same(pre('application/json; charset = "UTF8" '), undefined, 'quoted, spaced, upper-case');
  t.same(pre('application/json; xcharset=latin1; charsetx=latin1'), undefined, 'other parameters');
  t.same(
    pre('application/json; charset="utf-"8'),
    refused('The charset "\\"utf-\\"8" is not supported. Send UTF-8 JSON.'),
    'quotes count only around the whole value',
  );
  t.same(pre('application/json; charsetx; charset'), undefined, 'a parameter without "=" names no charset');
  t.same(pre(JSON_TYPE, 'GZIP'), refused('jobgate cannot check a body with Content-Encoding "gzip". Send it uncompressed.'));
  t.same(pre(JSON_TYPE, '  '), undefined, 'a blank Content-Encoding');
});

t.test('Cases found by mutation testing: body refusals in full', async (t) => {
  const bad = (message: string) => ({ ok: false, status: 400, error: 'bad_request', reason: 'bad_body', message });
  const create = (body: string, selector = 'team=a') => mergeCreateLabels(sel(selector), JSON_TYPE, Buffer.from(body));
  t.same(
    create('{"labels":{},"labels":{}}'),
    bad('The key "labels" appears more than once at the top level of the body. Send each key once: parsers disagree on which one counts.'),
  );
  t.same(
    create('{"labels":{"a":"1","A":"2"}}'),
    bad(
      'The key "A" in "labels" differs from "a" only in letter case, and upstreams that match keys case-insensitively would read it as that key. Send "a" once, spelled exactly.',
    ),
  );
  t.same(create(`{"x":${'['.repeat(257)}${']'.repeat(257)}}`), bad('The request body nests objects and arrays more than 256 levels deep.'));
  t.same(
    create('{"_method":"PUT"}'),
    bad('The key "_method" asks some upstreams to run the request as another method than the one jobgate checked. Remove it.'),
  );
  t.same(create('{"labels":{"team":1}}'), bad('The label "team" must have a string value.'));
  t.same(
    create('{"labels":{"env":"not ok"}}'),
    bad("Invalid label: label \"env\" value \"not ok\": must consist of alphanumeric characters, '-', '_' or '.'."),
  );
  t.same(create('{"labels":{"jobgate/x":"1"}}'), {
    ok: false,
    status: 403,
    error: 'forbidden',
    reason: 'reserved_label',
    message: 'Labels under "jobgate/" are set by jobgate, not by users: remove "jobgate/x".',
  });
  const scope = (message: string) => ({ ok: false, status: 403, error: 'insufficient_scope', reason: 'label_scope_denied', message });
  t.same(
    create('{"labels":{"team":"b"}}'),
    scope('The label team=b contradicts the token\'s label selector, which requires team=a. Remove the label or set it to "a".'),
  );
  t.same(
    create('{}', 'team=a,env!=prod,gpu'),
    scope('The job\'s labels would not satisfy "gpu" from the token\'s label selector "team=a,env!=prod,gpu". Set the labels so that they do.'),
  );
  t.same(
    create('{}', 'jobgate/id=nb1'),
    scope(
      'The token\'s label selector requires "jobgate/id=nb1", a label that jobgate sets and a job creation cannot: use a token whose selector does not pin "jobgate/" labels.',
    ),
  );
  const relabel = (body: unknown, selector = 'team=a') => checkRelabel(sel(selector), jobLabels, JSON_TYPE, buf(body));
  t.same(relabel({ name: 'team', value: 'b' }), scope('Setting team=b would move the job out of the token\'s scope: its labels would not satisfy "team=a".'));
  t.same(
    relabel({ name: 'env', value: 'x' }, 'team=b'),
    scope("The token's label selector does not match this job's labels. Use a token scoped to this job, or an unscoped one."),
  );
  t.same(
    relabel({ name: 'env', value: 'x', more: 1 }),
    bad('Unexpected field "more". The body must be {"name": "<label key>", "value": "<label value>"}, both strings, and nothing else.'),
  );
  t.same(relabel({ name: 'env' }), bad('The body must be {"name": "<label key>", "value": "<label value>"}, both strings, and nothing else.'));
  t.same(relabel({ name: 'env', value: 'x' }, 'team=a,env'), { ok: true, body: buf({ name: 'env', value: 'x' }) }, 'a non-empty value keeps a `k` requirement');
  t.same(relabel({ name: 'owner', value: '' }, 'team=a,env'), { ok: true, body: buf({ name: 'owner', value: '' }) }, 'removing another label');
});
