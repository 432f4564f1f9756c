import t from 'tap';
import { commandNamed, main } from '../../src/cli/main.js';
import { hiddenCharacters } from '../helpers/cli.js';

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

/** Runs the CLI in this process (no Redis is reached: every case fails on its arguments). */
async function runInProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env: {} });
  return { code, stdout, stderr };
}

t.test('an argument echoed in an error is shown escaped, on one line', async (t) => {
  const hostile = 'x\u001b[2K\r\u009b\u202e\njobgate: forged';
  const cases: Array<[string, string[], string]> = [
    ['unknown command', ['token', hostile], `unknown command '${hostile}'`],
    ['unknown option', ['token', 'list', `--${hostile}`], `unknown option '--${hostile}'`],
    ['bad token id', ['token', 'get', hostile], `invalid token id "${hostile}"`],
    ['bad job id', ['job', 'get', hostile], `invalid job id "${hostile}"`],
    ['bad label flag', ['job', 'put', 'j', '--upstream', 'http://u', '-l', hostile], `invalid --label "${hostile}"`],
  ];
  for (const [what, argv, echoed] of cases) {
    const result = await runInProcess(argv);
    t.equal(result.code, 2, `${what}: exit 2`);
    // Checked without printing the output: raw, it would garble the test report.
    t.same(hiddenCharacters(result.stderr), [], `${what}: no control or bidi character`);
    t.ok(/^jobgate: [^\n]+\n$/.test(result.stderr), `${what}: exactly one line`);
    t.ok(result.stderr.includes(echoed.replace('x\u001b[2K\r\u009b\u202e\njobgate', 'x\\u001b[2K\\r\\u009b\\u202e\\njobgate')), `${what}: the argument is shown with its escapes`);
  }
});

t.test("commander's suggestion stays on the error's line", async (t) => {
  const result = await runInProcess(['tokn']);
  t.equal(result.code, 2);
  t.equal(result.stderr, "jobgate: unknown command 'tokn' (Did you mean token?)\n");
});
