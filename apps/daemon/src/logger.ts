/**
 * The daemon's own log: one logfmt line per record on stderr. Under systemd (JOURNAL_STREAM set)
 * each line starts with a `<N>` syslog priority so journald files it at the right level.
 */
export type DaemonLogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

const RANK: Record<DaemonLogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };
const SYSLOG_PRIORITY: Record<DaemonLogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  readonly level: DaemonLogLevel;
  log(level: DaemonLogLevel, message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

export function isDaemonLogLevel(value: string): value is DaemonLogLevel {
  return Object.hasOwn(RANK, value);
}

function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

export function formatLogLine(
  level: DaemonLogLevel,
  message: string,
  fields: LogFields = {},
  journald = false,
): string {
  const parts = [`level=${level}`, `msg=${quote(message)}`];
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined) parts.push(`${key}=${quote(String(value))}`);
  return `${journald ? `<${SYSLOG_PRIORITY[level]}>` : ''}${parts.join(' ')}`;
}

export interface LoggerOptions {
  level?: DaemonLogLevel;
  write?: (line: string) => void;
  journald?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const journald = options.journald ?? process.env['JOURNAL_STREAM'] !== undefined;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (at: DaemonLogLevel, message: string, fields?: LogFields): void => {
    if (RANK[at] <= RANK[level]) write(formatLogLine(at, message, fields, journald));
  };
  return {
    level,
    log,
    error: (m, f) => log('error', m, f),
    warn: (m, f) => log('warn', m, f),
    info: (m, f) => log('info', m, f),
    debug: (m, f) => log('debug', m, f),
  };
}
