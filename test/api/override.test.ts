import t from 'tap';
import { isMethodBodyKey, isOverrideHeader, methodQueryRefusal, removeOverrideHeaders } from '../../src/api/override.js';

t.test('isOverrideHeader: method and path override headers, "_" read as "-"', async (t) => {
  for (const name of [
    'x-http-method-override',
    'x-http-method',
    'x-method-override',
    'x-original-url',
    'x-rewrite-url',
    'x_http_method_override',
    'x-http_method',
  ]) {
    t.ok(isOverrideHeader(name), name);
  }
  for (const name of ['x-http-methods', 'x-method', 'content-type', 'x-request-id', 'x-forwarded-method', '', 'x']) t.notOk(isOverrideHeader(name), name);
});

t.test('removeOverrideHeaders keeps every other header', async (t) => {
  const headers = { host: 'api.test', 'x-http-method-override': 'DELETE', x_method_override: 'PUT', 'x-original-url': '/v1/token', accept: '*/*' };
  removeOverrideHeaders(headers);
  t.same(headers, { host: 'api.test', accept: '*/*' });
});

t.test('methodQueryRefusal: "_method" in any spelling an upstream binds', async (t) => {
  for (const query of [
    '_method=PUT',
    'a=1&_method=DELETE',
    'a=1;_method=DELETE',
    '_METHOD=put',
    '_Method',
    '%5Fmethod=PUT',
    '_m%65thod=PUT',
    '.method=PUT',
    '+_method=PUT',
    '_method[]=PUT',
    '[method=PUT',
  ]) {
    const refusal = methodQueryRefusal(query);
    t.equal(refusal?.status, 400, query);
    t.equal(refusal?.reason, 'bad_query', query);
    t.match(refusal?.message, /"_method"/, query);
  }
  for (const query of ['', 'method=PUT', 'a_method=1', '_methods=1', 'x=_method', '+method=1', 'page=1&size=2', '%ZZmethod=1', '__method=1']) {
    t.equal(methodQueryRefusal(query), undefined, query);
  }
});

t.test('isMethodBodyKey: _method as a JSON key, in any case', async (t) => {
  for (const key of ['_method', '_METHOD', '_Method']) t.ok(isMethodBodyKey(key), key);
  for (const key of ['method', '_methods', 'labels', '']) t.notOk(isMethodBodyKey(key), key);
});

t.test('Cases found by mutation testing: "_" stands only for "-", and only where the name has "-"', async (t) => {
  for (const name of ['xxhttp-method', 'x-http-m_thod', 'x-httpxmethod', 'x-original_ur_', 'y-http-method', 'x-rewrite-urL'])
    t.notOk(isOverrideHeader(name), name);
  for (const name of ['x_original_url', 'x_rewrite-url', 'x-method_override']) t.ok(isOverrideHeader(name), name);
});

t.test('Cases found by mutation testing: _method pieces at the edges of the query', async (t) => {
  t.same(methodQueryRefusal('a=1&_method'), {
    status: 400,
    error: 'bad_request',
    reason: 'bad_query',
    message:
      'The query has a "_method" parameter, which some upstreams read as the request\'s method instead of the one jobgate checked. Send the request with its own method, without "_method".',
  });
  for (const query of ['_method&a=1', 'a=1;b=2&_method=x', '&&_method', '__method_x=1&_method=1', '  _method=1', '_method[x]=1', '_mEthod']) {
    t.ok(methodQueryRefusal(query), query);
  }
  for (const query of [
    '_abcdef=1',
    '_meth+od=1',
    'a=_method',
    'a=1&b=_method&c',
    '_method%ZZ=1',
    '_method2=1',
    'x_method=1',
    '[]method=1',
    '_meth',
    '&',
    ';;;',
  ]) {
    t.equal(methodQueryRefusal(query), undefined, query);
  }
});

t.test('Cases found by mutation testing: isMethodBodyKey needs the whole key', async (t) => {
  for (const key of ['_metho', '_methodx', 'x_method', '.method', '_method ']) t.notOk(isMethodBodyKey(key), key);
  t.ok(isMethodBodyKey('_MeThOd'));
});
