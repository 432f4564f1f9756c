import t from 'tap';
import { decide, type Authentication, type TrafficKind } from '../../src/auth/decide.js';
import type { Role } from '../../src/tokens/record.js';
import { tokenRecord } from '../helpers/fixtures.js';

const token = tokenRecord;

const teamA = {
  labels: new Map([
    ['team', 'a'],
    ['jobgate/id', 'nb1'],
  ]),
  unsecureHttp: false,
};
const teamB = {
  labels: new Map([
    ['team', 'b'],
    ['jobgate/id', 'nb2'],
  ]),
  unsecureHttp: false,
};
const open = { labels: new Map([['jobgate/id', 'pub']]), unsecureHttp: true };
const anonymous: Authentication = { kind: 'anonymous' };
const as = (role: Role, selector: string): Authentication => ({ kind: 'token', token: token(role, selector) });

// [who, target, traffic, expected reason]
const table: Array<[string, Authentication, typeof teamA, TrafficKind, string]> = [
  ['anonymous on a secured job', anonymous, teamA, 'job', 'missing_token'],
  ['anonymous on an unsecureHttp job', anonymous, open, 'job', 'allowed_unsecure'],
  ['anonymous on the API', anonymous, teamA, 'api', 'missing_token'],
  ['unscoped read on any job', as('read', ''), teamB, 'job', 'allowed'],
  ['unscoped operator on any job', as('operator', ''), teamA, 'job', 'allowed'],
  ['read scoped team=a on team a', as('read', 'team=a'), teamA, 'job', 'allowed'],
  ['read scoped team=a on team b', as('read', 'team=a'), teamB, 'job', 'scope_denied'],
  ['operator scoped team=a on team b', as('operator', 'team=a'), teamB, 'job', 'scope_denied'],
  ['read scoped to one job by id', as('read', 'jobgate/id=nb1'), teamA, 'job', 'allowed'],
  ['read scoped to another job by id', as('read', 'jobgate/id=nb1'), teamB, 'job', 'scope_denied'],
  ['read scoped team!=a on team b', as('read', 'team!=a'), teamB, 'job', 'allowed'],
  ['read scoped team in (a,b)', as('read', 'team in (a,b)'), teamB, 'job', 'allowed'],
  ['read scoped !team on team a', as('read', '!team'), teamA, 'job', 'scope_denied'],
  ['scoped token on an unsecureHttp job', as('read', 'team=z'), open, 'job', 'allowed_unsecure'],
  ['read on the API', as('read', ''), teamA, 'api', 'role_denied'],
  ['operator on the API', as('operator', ''), teamA, 'api', 'allowed'],
  ['scoped operator on the API, out of scope', as('operator', 'team=a'), teamB, 'api', 'scope_denied'],
  ['unsecureHttp does not open the API', anonymous, open, 'api', 'missing_token'],
];

for (const [name, auth, target, traffic, expected] of table) {
  t.test(name, async (t) => {
    const decision = decide(auth, target, traffic);
    t.equal(decision.reason, expected);
    t.equal(decision.allow, expected.startsWith('allowed'));
    if (!decision.allow) t.equal(decision.status, expected === 'missing_token' ? 401 : 403);
  });
}
