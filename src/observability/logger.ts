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

/** JSON lines to stdout (or `destination`, in tests). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ ...OPTIONS, level, redact: { paths: REDACT, censor: '[redacted]' } }, destination ?? pino.destination({ dest: 1, sync: false }));
}
