import { type DestinationStream, type Logger, pino } from 'pino';
import type { Config } from './config/schema.js';

export type { Logger } from 'pino';

/**
 * Fields that may hold a credential or a payload. Nothing in this package logs them, and the redaction
 * keeps it that way if a future log call passes a whole request or body by mistake.
 */
const REDACT = [
  'token',
  'apiKey',
  'secret',
  'data',
  'body',
  'authorization',
  'cookie',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.data',
  '*.body',
  '*.authorization',
  '*.cookie',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
];

/**
 * JSON lines on stdout, one object per event. Written synchronously: a process that exits right after
 * a log line (a failed start, the end of a drain) still prints it.
 */
export function createLogger(level: Config['logLevel'], destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'tidings', pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
