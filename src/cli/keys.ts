import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { ASSERTION_ALGORITHMS, generatePrivateKey, loadAssertionKeys, type AssertionAlgorithm } from '../assertion/keys.js';
import type { CliIo } from './context.js';
import { terminalLine } from './terminal.js';

interface GenerateOptions {
  alg: AssertionAlgorithm;
  format: 'pem' | 'jwk';
  out?: string;
}

/** `jobgate keys generate`: a new private key for signing X-Jobgate-Assertion. */
export function keysCommand(io: CliIo): Command {
  const keys = new Command('keys').description('keys that sign X-Jobgate-Assertion (see "Signed identity for upstreams" in the README)');
  keys
    .command('generate')
    .description('write a new private key (PKCS#8 PEM or JWK) for JOBGATE_ASSERTION_KEY_FILES or JOBGATE_ASSERTION_KEYS')
    .addOption(new Option('--alg <alg>', 'signature algorithm').choices(ASSERTION_ALGORITHMS).default('ES256'))
    .addOption(new Option('--format <format>', 'key format').choices(['pem', 'jwk']).default('pem'))
    .option('--out <file>', 'write to this file (created with mode 0600; never overwritten) instead of stdout')
    .action(async (options: GenerateOptions) => {
      const privateKey = generatePrivateKey(options.alg);
      const text =
        options.format === 'pem'
          ? (privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
          : `${JSON.stringify(privateKey.export({ format: 'jwk' }))}\n`;
      const { signing } = await loadAssertionKeys(text, [], options.alg);
      if (options.out) {
        try {
          writeFileSync(options.out, text, { mode: 0o600, flag: 'wx' });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new InputError(
            code === 'EEXIST'
              ? `${options.out} exists: jobgate never overwrites a key file`
              : `cannot write ${options.out}: ${code ?? (error as Error).message}`,
          );
        }
        io.stderr(`wrote ${options.alg} key ${signing.kid} to ${terminalLine(options.out)}\n`);
      } else {
        io.stdout(text);
        io.stderr(`${options.alg} key ${signing.kid}\n`);
      }
    });
  return keys;
}
