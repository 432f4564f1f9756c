import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that could hold a secret if a log call ever passed a request, a response or a
 * record: redacted as a second line of defence. jobgate's own log lines name tokens
 * by id only and never include headers, cookies or query strings.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'token',
  'value',
  'secret',
  'secretHash',
  'password',
];

const OPTIONS = {
  base: { service: 'jobgate', pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label: string) => ({ level: label }) },
};

/**
 * The same log without the redaction pass, for the access line: it is built by jobgate from
 * named fields only (never a request, header or record), so there is nothing to redact, and
 * the pass would cost on every request.
 */
export function accessLogger(logger: Logger): Logger {
  return pino({ ...OPTIONS, level: logger.level }, (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]);
}

/** JSON lines to stdout (or `destination`, in tests). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { ...OPTIONS, level, redact: { paths: REDACT, censor: '[redacted]' } },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
