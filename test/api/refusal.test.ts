import t from 'tap';
import { INSUFFICIENT_SCOPE, apiAnswer, badPathRefusal, refusal, type ApiReason } from '../../src/api/refusal.js';

// Cases found by mutation testing: the answers were only checked through a running jobgate
// (test/api/contract.test.ts), which the mutation run of src/api leaves out.

t.test('refusal keeps its four fields as given', async (t) => {
  t.same(refusal(413, 'payload_too_large', 'body_too_large', 'Too big.'), {
    status: 413,
    error: 'payload_too_large',
    reason: 'body_too_large',
    message: 'Too big.',
  });
});

t.test('badPathRefusal: a 400 bad_path naming the problem and what to send', async (t) => {
  const r = badPathRefusal('it has a ".." segment');
  t.equal(r.status, 400);
  t.equal(r.error, 'bad_request');
  t.equal(r.reason, 'bad_path');
  t.equal(
    r.message,
    'The API path is refused: it has a ".." segment. Send the normalized path, without ".", ".." or empty segments and without encoded "/", "\\" or ".".',
  );
});

t.test('apiAnswer: JSON {error, message}, no-store, and no challenge on an answer that is not insufficient_scope', async (t) => {
  const a = apiAnswer(refusal(400, 'bad_request', 'bad_query', 'Fix the query.'));
  t.equal(a.status, 400);
  t.equal(a.error, 'bad_request');
  t.same(JSON.parse(a.body), { error: 'bad_request', message: 'Fix the query.' });
  t.equal(a.headers['cache-control'], 'no-store');
  t.equal(a.headers['www-authenticate'], undefined);
  // A 403 that is about something else than privileges (a reserved label) carries no challenge either.
  t.equal(apiAnswer(refusal(403, 'forbidden', 'reserved_label', 'No.')).headers['www-authenticate'], undefined);
});

t.test('apiAnswer: the RFC 6750 insufficient_scope challenge, described by reason', async (t) => {
  const described: Array<[ApiReason, string]> = [
    ['role_denied', 'An operator token is required'],
    ['scope_denied', "The token's label selector does not match this job"],
    ['unscoped_only', 'An unscoped operator token is required'],
    ['scoped_route_denied', 'An unscoped operator token is required'],
    ['label_scope_denied', "The labels would not match the token's label selector"],
    // A reason without a description of its own.
    ['bad_body', 'Insufficient scope'],
  ];
  for (const [reason, description] of described) {
    const a = apiAnswer(refusal(403, INSUFFICIENT_SCOPE, reason, 'Use another token.'));
    t.equal(a.status, 403, reason);
    t.same(JSON.parse(a.body), { error: 'insufficient_scope', message: 'Use another token.' }, reason);
    t.equal(a.headers['www-authenticate'], `Bearer realm="jobgate", error="insufficient_scope", error_description="${description}"`, reason);
  }
});
