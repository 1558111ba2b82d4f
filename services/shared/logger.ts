import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/common-config.ts';

export type { Logger };

/** JSON logs on stdout; never log recipient payloads, only ids where needed for support. */
export function createLogger(service: string, level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({ name: service, level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
