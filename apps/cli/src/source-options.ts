import { readFileSync } from 'node:fs';
import {
  isRemoteSourceError,
  type OpenSourceOptions,
  type Platform,
  parsePlatform,
} from '@trident/remote-source';
import { parseByteCount, parseDuration } from '@trident/units';
import { CliError } from './cli-error.ts';
import type { SourceFlags } from './source-flags.ts';

export { type SourceFlags, sourceFlags } from './source-flags.ts';

/** What `openSource` takes, as the CLI builds it; the caller adds its own `signal`. */
export type RemoteOptions = Omit<OpenSourceOptions, 'signal'>;

/**
 * `64KiB`, `64 KiB/s`, `1M`, `1MB/s`, `1.5K`, `512`: bytes per second, read with the Host
 * Configuration's size grammar as `--target-size` is (binary units: K = KiB = KB = 1024); `/s` is
 * optional.
 */
export function parseRate(text: string, flag: string): number {
  const bytes = parseByteCount(text.trim().replace(/\/s$/iu, ''), { relaxed: true, fractions: true });
  if (bytes === undefined) {
    throw new CliError(
      'CLI_BAD_OPTION',
      `${flag} must be a rate in bytes per second such as 64KiB, 1MiB/s or 0 (off), not "${text}"`,
    );
  }
  return bytes;
}

/** `500ms`, `30s`, `10m`, `1h30m`, or a bare number of seconds; `0`, `none` and `off` are 0. */
export function durationFlag(text: string, flag: string): number {
  const ms = parseDuration(text, { relaxed: true });
  if (ms === undefined) {
    throw new CliError(
      'CLI_BAD_OPTION',
      `${flag} must be a duration such as 30s, 10m, 2h or 500ms (a bare number is seconds), not "${text}"`,
    );
  }
  return ms;
}

/**
 * Turns CLI flags into @trident/remote-source options, typed as `openSource` takes them: every
 * command that opens a source passes this object through unchanged. The registry password never
 * comes from the command line (it would show in `ps`): from stdin with --password-stdin, or
 * TRIDENT_REGISTRY_PASSWORD. Every bad value is a CliError (exit 2) before anything is opened.
 */
export function remoteOptions(flags: SourceFlags): RemoteOptions {
  const options: RemoteOptions = {};
  if (flags.caFile) {
    try {
      options.ca = readFileSync(flags.caFile);
    } catch (error) {
      throw new CliError(
        'CLI_CA_FILE',
        `cannot read --ca-file ${flags.caFile}: ${(error as Error).message}`,
        3,
      );
    }
  }
  if (flags.header && flags.header.length > 0) {
    const headers: Record<string, string> = {};
    for (const line of flags.header) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new CliError('CLI_BAD_OPTION', `--header must be "Name: value", not "${line}"`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/u.test(name) || /[\r\n\0]/u.test(value))
        throw new CliError('CLI_BAD_OPTION', `--header "${line}" is not a valid HTTP header`);
      headers[name] = value;
    }
    options.headers = headers;
  }
  if (flags.plainHttp) options.plainHttp = true;
  if (flags.platform) options.platform = platformFlag(flags.platform);
  if (flags.minThroughput !== undefined)
    options.minBytesPerSecond = parseRate(flags.minThroughput, '--min-throughput');
  if (flags.throughputWindow !== undefined) {
    const windowMs = durationFlag(flags.throughputWindow, '--throughput-window');
    if (windowMs <= 0) throw new CliError('CLI_BAD_OPTION', '--throughput-window must be longer than 0');
    options.throughputWindowMs = windowMs;
  }
  if (flags.timeout !== undefined) options.timeoutMs = durationFlag(flags.timeout, '--timeout');
  if (flags.passwordStdin && flags.username === undefined) {
    throw new CliError(
      'CLI_BAD_OPTION',
      '--password-stdin needs --username: the password read from stdin belongs to a user',
    );
  }
  if (flags.username !== undefined) {
    if (!flags.username) throw new CliError('CLI_BAD_OPTION', '--username must not be empty');
    const password = flags.passwordStdin
      ? readFileSync(0, 'utf8').replace(/\r?\n$/u, '')
      : process.env['TRIDENT_REGISTRY_PASSWORD'];
    if (password === undefined) {
      throw new CliError(
        'CLI_MISSING_PASSWORD',
        '--username needs a password: pipe it with --password-stdin or set TRIDENT_REGISTRY_PASSWORD',
      );
    }
    options.credentials = { username: flags.username, password };
  }
  return options;
}

function platformFlag(text: string): Platform {
  try {
    return parsePlatform(text);
  } catch (error) {
    if (isRemoteSourceError(error)) throw new CliError('CLI_BAD_OPTION', `--platform: ${error.message}`);
    throw error;
  }
}
