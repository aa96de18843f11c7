/** Command line and environment of `tridentd` / `trident daemon`. */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AGENT_CONFIG_PATH, DEFAULT_DATASTORE_PATH, resolveDatastorePath } from '@trident/datastore';
import type { TargetRequest } from '@trident/engine';
import { parseByteCount, parseDuration } from '@trident/units';
import { DaemonError } from './errors.ts';
import { type DaemonLogLevel, isDaemonLogLevel } from './logger.ts';

export const DEFAULT_SOCKET_PATH = '/run/trident/trident.sock';
export const DEFAULT_REBOOT_COMMAND = 'systemctl reboot';

export type StopMode = 'finish' | 'abort';

export interface DaemonOptions {
  /** Unix socket to bind when not socket-activated. */
  socketPath: string;
  /** Explicit TCP listener (`host:port`); never used unless configured. */
  tcp: { host: string; port: number } | undefined;
  /** Idle time before the daemon exits; 0 disables. */
  inactivityTimeoutMs: number;
  /** On SIGTERM/SIGINT: let a running operation finish, or abort it (a second signal always aborts). */
  stopMode: StopMode;
  /** Abort the operation when its client disconnects (Trident keeps going). */
  cancelOnDisconnect: boolean;
  /** Shell command run after the stream closes when Trident handles the reboot. */
  rebootCommand: string;
  /** How long to wait for the termination signal a reboot sends; 0: exit right after the command. */
  rebootWaitMs: number;
  /** Dev/test facility: where StreamDisk writes instead of the automatically selected disk. */
  streamTarget: TargetRequest | undefined;
  /** Dev/test facility: Install disk overrides (Host Configuration disk id → device or image file). */
  installDisks: Record<string, TargetRequest>;
  /** Skip the image-architecture check (image-file targets only). */
  allowArchMismatch: boolean;
  /**
   * Bytes a servicing run may use (`--memory-limit`, env TRIDENT_MEMORY_LIMIT); undefined: the
   * engine plans within the daemon's cgroup limit, else what the host has.
   */
  memoryLimit: number | undefined;
  /** Trident's datastore, which StatusService reads (default: trident.conf's, else Trident's path). */
  datastorePath: string;
  logLevel: DaemonLogLevel;
}

export const USAGE = `Usage: tridentd [options]        (also: trident daemon [options])

Serves the Trident gRPC API (trident.v1, trident.v1preview) over HTTP/2 cleartext on a unix socket.

Options:
  --socket-path PATH          socket to bind (default ${DEFAULT_SOCKET_PATH}; env TRIDENT_SOCKET_PATH);
                              ignored under systemd socket activation (LISTEN_FDS)
  --listen-tcp HOST:PORT      also listen on TCP (never by default; env TRIDENT_LISTEN_TCP)
  --inactivity-timeout DUR    exit after this long without requests (default 300s; 0 disables)
  --on-stop finish|abort      SIGTERM/SIGINT with an operation running: wait for it or abort it (default finish)
  --cancel-on-disconnect      abort an operation when its client goes away (env TRIDENT_CANCEL_ON_DISCONNECT=1)
  --reboot-command CMD        run through /bin/sh after a Trident-handled reboot is due
                              (default "${DEFAULT_REBOOT_COMMAND}"; env TRIDENT_REBOOT_COMMAND)
  --reboot-wait DUR           wait this long for the reboot to stop the daemon, then exit 3 (default 600s;
                              0: exit 0 right after the command succeeds)
  --stream-target PATH        dev/test: StreamDisk writes to this disk-image file or block device instead
                              of the automatically selected disk (env TRIDENT_STREAM_TARGET)
  --install-disk ID=PATH      dev/test: Install writes Host Configuration disk ID to PATH (repeatable)
  --allow-arch-mismatch       dev/test: skip the image architecture check (image-file targets only)
  --memory-limit SIZE         plan servicing within SIZE bytes (K/M/G/T suffixes; env TRIDENT_MEMORY_LIMIT;
                              default: the daemon's cgroup limit, e.g. systemd MemoryMax=, else free memory)
  --datastore PATH            the datastore StatusService reads (default: DatastorePath= in
                              ${AGENT_CONFIG_PATH}, else ${DEFAULT_DATASTORE_PATH})
  -v, --verbosity LEVEL       error|warn|info|debug|trace (default info)
  -V, --version               print the version
  -h, --help                  this text

Exit codes: 0 stopped normally, 1 set-up failed, 2 server error, 3 reboot failed or timed out.`;

function targetFor(path: string): TargetRequest {
  let isBlock = false;
  try {
    isBlock = statSync(path).isBlockDevice();
  } catch {
    // A missing path is a new image file.
  }
  return isBlock ? { kind: 'disk', path } : { kind: 'image-file', path, overwrite: true };
}

function parseLimit(text: string): number {
  // The Host Configuration's size grammar, as the CLI's size flags.
  const bytes = parseByteCount(text, { relaxed: true });
  if (bytes === undefined || bytes <= 0)
    throw new DaemonError(
      'DAEMON_INVALID_OPTION',
      `--memory-limit: '${text}' is not a size (bytes, or a number with K, M, G or T, e.g. 200M).`,
    );
  return bytes;
}

function parseTcp(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new DaemonError(
      'DAEMON_INVALID_OPTION',
      `--listen-tcp: '${text}' is not HOST:PORT (e.g. 127.0.0.1:50051).`,
    );
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

export interface ParsedDaemonArgs {
  options: DaemonOptions;
  help: boolean;
  version: boolean;
}

export function parseDaemonArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedDaemonArgs {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new DaemonError('DAEMON_INVALID_OPTION', `${(error as Error).message}\n\n${USAGE}`, {
      cause: error,
    });
  }
  const v = parsed.values;
  const logLevel = (v.verbosity ?? 'info').toLowerCase();
  if (!isDaemonLogLevel(logLevel))
    throw new DaemonError(
      'DAEMON_INVALID_OPTION',
      `--verbosity: '${v.verbosity}' is not one of error, warn, info, debug, trace.`,
    );
  const stopMode = v['on-stop'] ?? 'finish';
  if (stopMode !== 'finish' && stopMode !== 'abort')
    throw new DaemonError('DAEMON_INVALID_OPTION', `--on-stop: '${stopMode}' is not 'finish' or 'abort'.`);
  const installDisks: Record<string, TargetRequest> = {};
  for (const item of v['install-disk'] ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1)
      throw new DaemonError(
        'DAEMON_INVALID_OPTION',
        `--install-disk: '${item}' is not ID=PATH (e.g. os=/tmp/disk.img).`,
      );
    installDisks[item.slice(0, eq)] = targetFor(item.slice(eq + 1));
  }
  const streamTarget = v['stream-target'] ?? env['TRIDENT_STREAM_TARGET'];
  const tcp = v['listen-tcp'] ?? env['TRIDENT_LISTEN_TCP'];
  const memoryLimit = v['memory-limit'] ?? env['TRIDENT_MEMORY_LIMIT'];
  const options: DaemonOptions = {
    socketPath: v['socket-path'] ?? env['TRIDENT_SOCKET_PATH'] ?? DEFAULT_SOCKET_PATH,
    tcp: tcp === undefined || tcp === '' ? undefined : parseTcp(tcp),
    inactivityTimeoutMs: durationOption(v['inactivity-timeout'] ?? '300s', '--inactivity-timeout'),
    stopMode,
    cancelOnDisconnect: v['cancel-on-disconnect'] === true || truthy(env['TRIDENT_CANCEL_ON_DISCONNECT']),
    rebootCommand: v['reboot-command'] ?? env['TRIDENT_REBOOT_COMMAND'] ?? DEFAULT_REBOOT_COMMAND,
    rebootWaitMs: durationOption(v['reboot-wait'] ?? '600s', '--reboot-wait'),
    streamTarget: streamTarget === undefined || streamTarget === '' ? undefined : targetFor(streamTarget),
    installDisks,
    allowArchMismatch: v['allow-arch-mismatch'] === true,
    memoryLimit: memoryLimit === undefined || memoryLimit === '' ? undefined : parseLimit(memoryLimit),
    datastorePath: resolveDatastorePath(v.datastore),
    logLevel,
  };
  return { options, help: v.help === true, version: v.version === true };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      'socket-path': { type: 'string' },
      'listen-tcp': { type: 'string' },
      'inactivity-timeout': { type: 'string' },
      'on-stop': { type: 'string' },
      'cancel-on-disconnect': { type: 'boolean' },
      'reboot-command': { type: 'string' },
      'reboot-wait': { type: 'string' },
      'stream-target': { type: 'string' },
      'install-disk': { type: 'string', multiple: true },
      'allow-arch-mismatch': { type: 'boolean' },
      'memory-limit': { type: 'string' },
      datastore: { type: 'string' },
      verbosity: { type: 'string', short: 'v' },
      version: { type: 'boolean', short: 'V' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Options with every default, for tests and embedders. */
export function defaultDaemonOptions(overrides: Partial<DaemonOptions> = {}): DaemonOptions {
  return { ...parseDaemonArgs([], {}).options, ...overrides };
}

/** Milliseconds for a duration option (humantime grammar, as Trident's `--inactivity-timeout`). */
export function durationOption(text: string, option: string): number {
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new DaemonError(
      'DAEMON_INVALID_OPTION',
      `${option}: '${text}' is not a duration; use e.g. 300s, 5m, 1h30m or 0 to disable.`,
    );
  return ms;
}
