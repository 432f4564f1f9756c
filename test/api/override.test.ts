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
