/**
 * Where the daemon listens: an fd inherited from systemd (socket activation), else a unix socket
 * it binds itself (mode 0600, parent created, stale socket removed only when nothing answers),
 * plus TCP only when explicitly configured.
 */
import { chmodSync, fstatSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { DaemonError } from './errors.ts';

/** First inherited fd under the sd_listen_fds(3) protocol. */
export const SD_LISTEN_FDS_START = 3;

export interface Activation {
  fd: number;
  name: string | undefined;
  /** LISTEN_PID was set to another process (e.g. a wrapper that forked instead of exec'ing). */
  foreignPid: number | undefined;
}

/**
 * Reads LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID. Like Trident: at most one fd, and when names
 * are given their count must match; LISTEN_PID is not enforced (a wrapper such as a package
 * manager shim may fork instead of exec), only reported so the daemon can warn. Unlike Trident a
 * missing LISTEN_FDNAMES is accepted. The variables are removed from `env` so child processes
 * (the reboot command) never inherit them.
 */
export function readActivation(
  env: NodeJS.ProcessEnv = process.env,
  pid = process.pid,
): Activation | undefined {
  const fdsText = env['LISTEN_FDS'];
  const namesText = env['LISTEN_FDNAMES'];
  const pidText = env['LISTEN_PID'];
  delete env['LISTEN_FDS'];
  delete env['LISTEN_FDNAMES'];
  delete env['LISTEN_PID'];
  if (fdsText === undefined || fdsText === '') return undefined;
  const count = Number(fdsText);
  if (!Number.isInteger(count) || count < 0)
    throw new DaemonError(
      'DAEMON_ACTIVATION_INVALID',
      `LISTEN_FDS='${fdsText}' is not a non-negative integer.`,
    );
  const names =
    namesText === undefined
      ? undefined
      : namesText
          .split(':')
          .flatMap((n) => n.split(','))
          .filter((n) => n !== '');
  if (names !== undefined && names.length !== count)
    throw new DaemonError(
      'DAEMON_ACTIVATION_INVALID',
      `LISTEN_FDS=${count} but LISTEN_FDNAMES names ${names.length} socket(s) ('${namesText}'); they must match.`,
    );
  if (count === 0) return undefined;
  if (count > 1)
    throw new DaemonError(
      'DAEMON_ACTIVATION_INVALID',
      `systemd passed ${count} sockets; tridentd serves exactly one (check ListenStream= in tridentd.socket).`,
    );
  const listenPid = pidText === undefined || pidText === '' ? undefined : Number(pidText);
  return {
    fd: SD_LISTEN_FDS_START,
    name: names?.[0],
    foreignPid: listenPid !== undefined && listenPid !== pid ? listenPid : undefined,
  };
}

function listenOn(
  server: Server,
  target: { fd: number } | { path: string } | { host: string; port: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(target, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export interface BoundListener {
  /** `unix:/run/trident/trident.sock`, `fd:3 (unix:...)` or `tcp:127.0.0.1:50051`. */
  readonly description: string;
  /** Removes the socket file if it is still the one this daemon created. */
  cleanup(): void;
}

/** Serves on the inherited fd; refuses anything but a listening unix socket. */
export async function listenActivated(server: Server, activation: Activation): Promise<BoundListener> {
  let isSocket = false;
  try {
    isSocket = fstatSync(activation.fd).isSocket();
  } catch (error) {
    throw new DaemonError('DAEMON_ACTIVATION_INVALID', `Inherited fd ${activation.fd} is not open.`, {
      cause: error,
    });
  }
  if (!isSocket)
    throw new DaemonError(
      'DAEMON_ACTIVATION_NOT_UNIX',
      `Inherited fd ${activation.fd} is not a Unix socket.`,
    );
  try {
    await listenOn(server, { fd: activation.fd });
  } catch (error) {
    throw new DaemonError(
      'DAEMON_LISTEN_FAILED',
      `Cannot serve on inherited fd ${activation.fd}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  // Node opens the fd as a pipe (unix) or TCP handle after asking libuv what it is; a TCP handle
  // reports an address object, a pipe opened from an fd reports null or its path.
  const address = server.address();
  if (address !== null && typeof address === 'object') {
    server.close();
    throw new DaemonError(
      'DAEMON_ACTIVATION_NOT_UNIX',
      `Inherited fd ${activation.fd} is not a Unix socket (it is bound to ${address.address}:${address.port}).`,
    );
  }
  const where = typeof address === 'string' && address !== '' ? `unix:${address}` : 'unix socket';
  return {
    description: `fd:${activation.fd} (${where}${activation.name ? `, name ${activation.name}` : ''})`,
    cleanup: () => {},
  };
}

/** Resolves when something accepts a connection on `path` (true) or refuses it (false). */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Removes `path` if it is a socket nobody listens on; refuses live sockets and other files. */
export async function removeStaleSocket(path: string): Promise<boolean> {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return false;
  }
  if (!stat.isSocket())
    throw new DaemonError(
      'DAEMON_SOCKET_PATH_OCCUPIED',
      `${path} exists and is not a socket; remove it or choose another --socket-path.`,
    );
  if (await probe(path))
    throw new DaemonError(
      'DAEMON_SOCKET_IN_USE',
      `Another server is listening on ${path}; stop it (systemctl stop tridentd) first.`,
    );
  // Re-check right before unlinking: only remove the very file that refused the connection.
  const again = lstatSync(path, { throwIfNoEntry: false });
  if (again?.isSocket() && again.ino === stat.ino) unlinkSync(path);
  return true;
}

/**
 * Binds `path` with mode 0600. The process umask is tightened around bind so the socket never
 * exists with wider permissions, then the mode is set again explicitly (as Trident does).
 */
export async function listenUnix(server: Server, path: string): Promise<BoundListener & { stale: boolean }> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new DaemonError(
      'DAEMON_LISTEN_FAILED',
      `Cannot create ${dirname(path)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const stale = await removeStaleSocket(path);
  const umask = process.umask(0o177);
  try {
    await listenOn(server, { path });
  } catch (error) {
    throw new DaemonError('DAEMON_LISTEN_FAILED', `Cannot listen on ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
  const { ino } = statSync(path);
  return {
    description: `unix:${path}`,
    stale,
    cleanup: () => {
      const now = lstatSync(path, { throwIfNoEntry: false });
      if (now?.isSocket() && now.ino === ino) unlinkSync(path);
    },
  };
}

export async function listenTcp(
  server: Server,
  host: string,
  port: number,
): Promise<BoundListener & { port: number }> {
  try {
    await listenOn(server, { host, port });
  } catch (error) {
    throw new DaemonError(
      'DAEMON_LISTEN_FAILED',
      `Cannot listen on ${host}:${port}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return { description: `tcp:${host}:${bound}`, port: bound, cleanup: () => {} };
}
