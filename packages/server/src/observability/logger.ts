import { type Logger, pino } from 'pino';

/** The default logger: JSON lines on stdout. Embedders pass their own pino instance. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'switchboard' } });
}
