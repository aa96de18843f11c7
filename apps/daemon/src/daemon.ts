/**
 * The daemon: routes, listeners, activity tracking, graceful stop and the reboot path.
 * `startDaemon` returns once it listens; `finished` resolves with the process exit code.
 */
import http2 from 'node:http2';
import type { ConnectRouter } from '@connectrpc/connect';
import { ActivityTracker } from './activity.ts';
import { type EngineApi, loadEngine } from './engine-api.ts';
import { DaemonError, describeError, EXIT } from './errors.ts';
import { CommitService } from './gen/trident/v1/commit_service_pb.ts';
import { StreamingService } from './gen/trident/v1/streaming_service_pb.ts';
import { UpdateService } from './gen/trident/v1/update_service_pb.ts';
import { VersionService } from './gen/trident/v1/version_service_pb.ts';
import { CommitService as CommitPreviewService } from './gen/trident/v1preview/commit_service_pb.ts';
import { InstallService } from './gen/trident/v1preview/install_service_pb.ts';
import { RollbackService } from './gen/trident/v1preview/rollback_service_pb.ts';
import { StatusService } from './gen/trident/v1preview/status_service_pb.ts';
import { ValidationService } from './gen/trident/v1preview/validation_service_pb.ts';
import { createGrpcFront } from './grpc-front.ts';
import {
  type Activation,
  type BoundListener,
  listenActivated,
  listenTcp,
  listenUnix,
  readActivation,
} from './listener.ts';
import { createLogger, type Logger } from './logger.ts';
import type { DaemonOptions, StopMode } from './options.ts';
import { runRebootCommand } from './reboot.ts';
import { createCommitPreviewService, createCommitService } from './services/commit.ts';
import { createInstallService } from './services/install.ts';
import { createRollbackService } from './services/rollback.ts';
import type { StreamContext } from './services/servicing-stream.ts';
import { createStatusService } from './services/status.ts';
import { createStreamingService } from './services/streaming.ts';
import { createUpdateService } from './services/update.ts';
import { createValidationService } from './services/validation.ts';
import { createVersionService, daemonVersion } from './services/version.ts';
import { ServicingManager } from './servicing-manager.ts';

export interface DaemonDeps {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Socket activation; default: read from `env` (LISTEN_FDS...). `null` disables it. */
  activation?: Activation | null;
  /** Defaults to the real `@trident/engine`. */
  loadEngine?: () => Promise<EngineApi>;
}

export type StopReason = 'signal' | 'inactivity' | 'reboot' | 'error';

export interface Daemon {
  readonly version: string;
  /** One per listener: `unix:/run/trident/trident.sock`, `fd:3 (...)`, `tcp:127.0.0.1:PORT`. */
  readonly listeners: readonly string[];
  /** The TCP port when `--listen-tcp` was given (useful with port 0). */
  readonly tcpPort: number | undefined;
  readonly manager: ServicingManager;
  /** Graceful stop; a second call (or mode `abort`) aborts a running operation. */
  stop(reason?: StopReason, mode?: StopMode): void;
  /** Resolves with the exit code once the daemon stopped (and a due reboot was requested). */
  readonly finished: Promise<number>;
}

const SESSION_DRAIN_MS = 10_000;
const TRANSIENT_ACCEPT_ERRORS = new Set(['EMFILE', 'ENFILE', 'ECONNABORTED', 'ENOBUFS', 'ENOMEM']);

export async function startDaemon(options: DaemonOptions, deps: DaemonDeps = {}): Promise<Daemon> {
  const env = deps.env ?? process.env;
  const logger = deps.logger ?? createLogger({ level: options.logLevel });
  const version = daemonVersion(env);
  const servers: http2.Http2Server[] = [];
  const bound: BoundListener[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  let stopping: Promise<void> | undefined;
  let stopCount = 0;
  let rebootRequested = false;
  let resolveWaitForSignal: (() => void) | undefined;
  let resolveFinished!: (code: number) => void;
  const finished = new Promise<number>((resolve) => {
    resolveFinished = resolve;
  });

  const activity = new ActivityTracker(options.inactivityTimeoutMs, () => {
    logger.info('inactivity timeout reached; stopping', { timeoutMs: options.inactivityTimeoutMs });
    stop('inactivity');
  });
  const manager = new ServicingManager({
    logger,
    version,
    loadEngine: deps.loadEngine ?? loadEngine,
    onActiveChange: (active) => activity.setServicing(active),
    onRebootDue: () => {
      rebootRequested = true;
      manager.refuse('Trident is rebooting');
      stop('reboot');
    },
  });
  const context: StreamContext = { manager, logger, cancelOnDisconnect: options.cancelOnDisconnect };
  const routes = (router: ConnectRouter) => {
    router.service(VersionService, createVersionService(version));
    router.service(StreamingService, createStreamingService(context, options));
    router.service(UpdateService, createUpdateService(context, options));
    router.service(CommitService, createCommitService(context, options.datastorePath));
    router.service(CommitPreviewService, createCommitPreviewService(context, options.datastorePath));
    router.service(InstallService, createInstallService(context, options));
    router.service(StatusService, createStatusService(manager, options.datastorePath));
    router.service(
      RollbackService,
      createRollbackService(context, manager, deps.loadEngine ?? loadEngine, options.datastorePath),
    );
    router.service(ValidationService, createValidationService());
  };
  const handler = createGrpcFront({ routes, logger });

  const createServer = () => {
    const server = http2.createServer({}, handler);
    // Requests node would answer itself with a bare HTTP status (an `expect` other than
    // 100-continue: 417; CONNECT: 405) go through the same front, which answers in gRPC terms.
    server.on('checkExpectation', handler);
    server.on('connect', handler);
    // A broken connection (bad preface, e.g. an HTTP/1 request; a protocol error; a reset socket)
    // only ends that session.
    server.on('sessionError', (error) => logger.debug('session error', { error: describeError(error) }));
    server.on('session', (session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      if (stopping !== undefined) session.close();
    });
    server.on('stream', (stream) => {
      activity.requestStarted();
      stream.once('close', () => activity.requestEnded());
    });
    servers.push(server);
    return server;
  };

  const closeServers = async () => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };

  const drainSessions = async () => {
    for (const session of sessions) session.close();
    const deadline = Date.now() + SESSION_DRAIN_MS;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const session of sessions) session.destroy();
  };

  const shutdown = async (reason: StopReason, mode: StopMode): Promise<number> => {
    logger.info('stopping', { reason, mode, operation: manager.current?.name });
    manager.refuse(reason === 'reboot' ? 'Trident is rebooting' : 'Trident is shutting down');
    activity.stop();
    const closing = closeServers();
    const current = manager.current;
    if (current !== undefined) {
      if (mode === 'abort') current.abort.abort(new Error(`tridentd is stopping (${reason}).`));
      else logger.info('waiting for the running operation to finish', { operation: current.name });
      await current.done;
    }
    await drainSessions();
    await closing;
    for (const listener of bound) {
      try {
        listener.cleanup();
      } catch (error) {
        logger.warn('cannot remove the socket', { error: describeError(error) });
      }
    }
    if (reason === 'error') return EXIT.failed;
    if (!rebootRequested) return EXIT.ok;
    try {
      await runRebootCommand(options.rebootCommand, logger, env);
    } catch (error) {
      logger.error('reboot failed', { error: describeError(error) });
      return EXIT.rebootUnsuccessful;
    }
    if (options.rebootWaitMs <= 0) return EXIT.ok;
    // Like Trident: the reboot stops us with a signal; if none comes in time, report failure.
    const signalled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), options.rebootWaitMs);
      resolveWaitForSignal = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    if (!signalled) logger.error('the host did not reboot in time', { waitedMs: options.rebootWaitMs });
    return signalled ? EXIT.ok : EXIT.rebootUnsuccessful;
  };

  function stop(reason: StopReason = 'signal', mode: StopMode = options.stopMode): void {
    stopCount += 1;
    if (stopping !== undefined) {
      if (resolveWaitForSignal !== undefined) resolveWaitForSignal();
      else if (
        (mode === 'abort' || stopCount > 1) &&
        manager.current !== undefined &&
        !manager.current.abort.signal.aborted
      ) {
        logger.warn('aborting the running operation', { operation: manager.current.name });
        manager.current.abort.abort(new Error(`tridentd is stopping (${reason}).`));
      }
      return;
    }
    stopping = shutdown(reason, mode).then(
      (code) => resolveFinished(code),
      (error) => {
        logger.error('stop failed', { error: describeError(error) });
        resolveFinished(EXIT.failed);
      },
    );
  }

  try {
    const activation = deps.activation === null ? undefined : (deps.activation ?? readActivation(env));
    if (activation?.foreignPid !== undefined)
      logger.warn('LISTEN_PID names another process; using the inherited socket anyway', {
        listenPid: activation.foreignPid,
      });
    if (activation !== undefined) bound.push(await listenActivated(createServer(), activation));
    else {
      const unix = await listenUnix(createServer(), options.socketPath);
      if (unix.stale) logger.warn('removed a stale socket', { path: options.socketPath });
      bound.push(unix);
    }
    let tcpPort: number | undefined;
    if (options.tcp !== undefined) {
      const tcp = await listenTcp(createServer(), options.tcp.host, options.tcp.port);
      tcpPort = tcp.port;
      bound.push(tcp);
      logger.warn('listening on TCP: anyone who can reach this port can reimage this host', {
        address: tcp.description,
      });
    }
    for (const server of servers)
      server.on('error', (error: NodeJS.ErrnoException) => {
        // Running out of file descriptors (or a client that aborts while being accepted) costs one
        // connection, not the daemon.
        if (error.syscall === 'accept' && TRANSIENT_ACCEPT_ERRORS.has(error.code ?? '')) {
          logger.warn('cannot accept a connection', { error: describeError(error) });
          return;
        }
        logger.error('server error', { error: describeError(error) });
        stop('error', 'abort');
      });
    logger.info('tridentd listening', { version, listeners: bound.map((b) => b.description).join(',') });

    return { version, listeners: bound.map((b) => b.description), tcpPort, manager, stop, finished };
  } catch (error) {
    activity.stop();
    for (const server of servers) server.close();
    for (const listener of bound) listener.cleanup();
    throw error instanceof DaemonError
      ? error
      : new DaemonError('DAEMON_LISTEN_FAILED', describeError(error), { cause: error });
  }
}
