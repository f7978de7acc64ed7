import pino from 'pino';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JSON lines on stderr, so stdout stays free for CLI output. */
export function createLogger(level: LogLevel, name: string): Logger {
  return pino({ level, base: { driver: name } }, pino.destination({ dest: 2, sync: false }));
}
