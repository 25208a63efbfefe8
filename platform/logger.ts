import pino, { type Logger } from 'pino';

export type { Logger };

/** One JSON logger per process; `service` tells the API and the worker apart in a shared log stream. */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', '*.password', '*.secret'], censor: '[redacted]' },
  });
}
