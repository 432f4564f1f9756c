import t from 'tap';
import { commandNamed } from '../../src/cli/main.js';

// The CLI loads only the module of the command it runs; commandNamed picks it from argv.
t.test('the command is the first argument that is not an option or a global option value', async (t) => {
  t.equal(commandNamed(['token', 'list']), 'token');
  t.equal(commandNamed(['job', 'put', 'token', '--upstream', 'http://u']), 'job', 'a later "token" is an argument');
  t.equal(commandNamed(['--key-prefix', 'token', 'job', 'list']), 'job', 'a global option value is skipped');
  t.equal(commandNamed(['--redis-url', 'redis://h', '--config', 'serve', 'serve']), 'serve');
  t.equal(commandNamed(['--config=job', 'keys', 'generate']), 'keys', '--option=value is one argument');
  t.equal(commandNamed(['-o', 'json']), undefined, 'no command');
  t.equal(commandNamed([]), undefined);
  t.equal(commandNamed(['help', 'token']), undefined, 'help loads every command');
  t.equal(commandNamed(['tokn', 'list']), undefined, 'an unknown command loads every command, for the suggestion');
  t.equal(commandNamed(['constructor']), undefined, 'no inherited property is a command');
  t.equal(commandNamed(['__proto__']), undefined);
});
