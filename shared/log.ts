/**
 * Structured logging: one JSON line per decision, in the shape Cloud Logging reads from stdout.
 * See https://cloud.google.com/functions/docs/monitoring/logging#writing_structured_logs
 */

export const SEVERITIES = [
  'DEBUG',
  'INFO',
  'NOTICE',
  'WARNING',
  'ERROR',
] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Fields that let someone find a decision again (eventId, digest, jobId, ...). */
export type LogFields = Record<string, unknown>;

/** Where log lines go; tests pass a recorder. */
export type LogSink = (line: string) => void;

/** A logger writes one JSON object per call. */
export interface Logger {
  log(severity: Severity, message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger writing JSON lines to `sink` (stdout by default). */
export function makeLogger(
  sink: LogSink = line => process.stdout.write(line + '\n'),
  base: LogFields = {},
): Logger {
  const log = (severity: Severity, message: string, fields: LogFields = {}) =>
    sink(JSON.stringify({severity, message, ...base, ...fields}));
  return {
    log,
    info: (m, f) => log('INFO', m, f),
    warn: (m, f) => log('WARNING', m, f),
    error: (m, f) => log('ERROR', m, f),
  };
}
