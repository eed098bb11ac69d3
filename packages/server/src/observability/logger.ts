import { type Logger, pino } from 'pino';

/**
 * The default logger: JSON lines on stdout, written synchronously (as process.stdout is on
 * Linux), so they stay in order with what the CLI prints — the log is warnings and rare
 * events, not a line per message. Embedders pass their own pino instance.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'switchboard' } }, pino.destination({ dest: 1, sync: true }));
}
