import t from 'tap';
import { commandNamed, main } from '../../src/cli/main.js';
import { connectRedis, createRedis } from '../../src/redis/index.js';
import { hiddenCharacters, runCli } from '../helpers/cli.js';
import { RedisServer } from '../helpers/redis.js';

// The CLI loads only the module of the command it runs; commandNamed picks it from argv.
t.test('the command is the first argument that is not an option or a global option value', async (t) => {
  t.equal(commandNamed(['token', 'list']), 'token');
  t.equal(commandNamed(['job', 'put', 'token', '--upstream', 'http://u']), 'job', 'a later "token" is an argument');
  t.equal(commandNamed(['--key-prefix', 'token', 'job', 'list']), 'job', 'a global option value is skipped');
  t.equal(commandNamed(['--redis-url', 'redis://h', '--config', 'serve', 'serve']), 'serve');
  t.equal(commandNamed(['--config=job', 'keys', 'generate']), 'keys', '--option=value is one argument');
  t.equal(commandNamed(['--server', 'token', 'events', '-f']), 'events', "--server's value is skipped");
  t.equal(commandNamed(['--token', 'job', 'token', 'list']), 'token', "--token's value is skipped (to be refused)");
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
    ['bad token id or name', ['token', 'get', hostile], `invalid token id or name "${hostile}"`],
    ['bad job id', ['job', 'get', hostile], `invalid job id "${hostile}"`],
    ['bad label flag', ['job', 'put', 'j', '--upstream', 'http://u', '-l', hostile], `invalid --label "${hostile}"`],
  ];
  for (const [what, argv, echoed] of cases) {
    const result = await runInProcess(argv);
    t.equal(result.code, 2, `${what}: exit 2`);
    // Checked without printing the output: raw, it would garble the test report.
    t.same(hiddenCharacters(result.stderr), [], `${what}: no control or bidi character`);
    t.ok(/^jobgate: [^\n]+\n$/.test(result.stderr), `${what}: exactly one line`);
    t.ok(
      result.stderr.includes(echoed.replace('x\u001b[2K\r\u009b\u202e\njobgate', 'x\\u001b[2K\\r\\u009b\\u202e\\njobgate')),
      `${what}: the argument is shown with its escapes`,
    );
  }
});

t.test("commander's suggestion stays on the error's line", async (t) => {
  const result = await runInProcess(['tokn']);
  t.equal(result.code, 2);
  t.equal(result.stderr, "jobgate: unknown command 'tokn' (Did you mean token?)\n");
});

t.test('a password in --redis-url gets a one-line warning on stderr; the command works as it would without it', async (t) => {
  const server = await RedisServer.start();
  t.teardown(() => server.stop());
  const admin = createRedis({ url: server.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  await admin.config('SET', 'requirepass', 'pw-on-the-command-line');
  admin.disconnect();
  const url = `redis://:pw-on-the-command-line@127.0.0.1:${server.port}`;

  const fromEnv = await runCli(['job', 'list', '-o', 'json'], { JOBGATE_REDIS_URL: url });
  t.equal(fromEnv.code, 0, 'JOBGATE_REDIS_URL: exit 0');
  t.equal(fromEnv.stderr, '', 'and no warning');
  const warning = 'jobgate: warning: the password in --redis-url is visible to every user of this machine in the process list; set JOBGATE_REDIS_URL instead\n';
  for (const args of [
    ['--redis-url', url, 'job', 'list', '-o', 'json'],
    [`--redis-url=${url}`, 'job', 'list', '-o', 'json'],
  ]) {
    const fromFlag = await runCli(args);
    t.equal(fromFlag.code, 0, `${args[0]!.slice(0, 12)}: the same exit code`);
    t.equal(fromFlag.stdout, fromEnv.stdout, 'the same output');
    t.equal(fromFlag.stderr, warning, 'one warning line');
  }
  const withoutPassword = await runCli(['--redis-url', `redis://127.0.0.1:${server.port}`, 'job', 'list']);
  t.equal(withoutPassword.code, 1, 'no password: refused by Redis');
  t.notMatch(withoutPassword.stderr, /warning/, 'and no warning');
});
