/** How the client prints forwarded logs: `[LEVEL DAEMON::<target>] message`, like Trident re-logs them. */

import type { Log } from '../gen/trident/v1/log_pb.ts';
import { LogLevel } from '../gen/trident/v1/log_pb.ts';

export type Verbosity = 'OFF' | 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | 'TRACE';

const RANK: Record<Verbosity, number> = { OFF: 0, ERROR: 1, WARN: 2, INFO: 3, DEBUG: 4, TRACE: 5 };

export function parseVerbosity(text: string): Verbosity | undefined {
  const upper = text.toUpperCase();
  return Object.hasOwn(RANK, upper) ? (upper as Verbosity) : undefined;
}

/** Trident maps LOG_LEVEL_UNSPECIFIED (and unknown values) to WARN. */
export function levelName(level: LogLevel): Exclude<Verbosity, 'OFF'> {
  switch (level) {
    case LogLevel.ERROR:
      return 'ERROR';
    case LogLevel.INFO:
      return 'INFO';
    case LogLevel.DEBUG:
      return 'DEBUG';
    case LogLevel.TRACE:
      return 'TRACE';
    default:
      return 'WARN';
  }
}

export function shouldPrint(level: Exclude<Verbosity, 'OFF'>, verbosity: Verbosity): boolean {
  return RANK[level] <= RANK[verbosity];
}

export function formatLine(level: Exclude<Verbosity, 'OFF'>, target: string, message: string): string {
  return `[${level.padEnd(5)} ${target}] ${message}`;
}

export function formatForwardedLog(log: Log): string {
  return formatLine(levelName(log.level), `DAEMON::${log.target || log.module || 'trident'}`, log.message);
}
