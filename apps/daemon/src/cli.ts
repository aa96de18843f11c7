/** `tridentd [options]` and `trident daemon [options]`: parse, serve, stop on signals, exit code. */
import { type Daemon, startDaemon } from './daemon.ts';
import { DaemonError, describeError, EXIT } from './errors.ts';
import { createLogger } from './logger.ts';
import { parseDaemonArgs, USAGE } from './options.ts';
import { daemonVersion } from './services/version.ts';

export interface DaemonCliIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** How long a stop after a fatal error may take before the process exits 2 anyway. */
const FATAL_STOP_MS = 30_000;

/** Runs the daemon until it stops; resolves with the process exit code (never calls process.exit). */
export async function runDaemonCli(argv: readonly string[], io: DaemonCliIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? ((t: string) => process.stdout.write(t));
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  let parsed: ReturnType<typeof parseDaemonArgs>;
  try {
    parsed = parseDaemonArgs(argv, env);
  } catch (error) {
    stderr(`tridentd: ${(error as Error).message}\n`);
    return EXIT.setupFailed;
  }
  if (parsed.help) {
    stdout(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (parsed.version) {
    stdout(`tridentd ${daemonVersion(env)}\n`);
    return EXIT.ok;
  }
  const logger = createLogger({ level: parsed.options.logLevel, write: (line) => stderr(`${line}\n`) });
  let daemon: Daemon;
  try {
    daemon = await startDaemon(parsed.options, { logger, env });
  } catch (error) {
    logger.error('start-up failed', {
      code: error instanceof DaemonError ? error.code : undefined,
      error: error instanceof DaemonError ? error.message : describeError(error),
    });
    return EXIT.setupFailed;
  }
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info('received signal', { signal });
    daemon.stop('signal');
  };
  // Last resort for a bug anywhere in the process (requests are guarded in grpc-front.ts): do not
  // die with node's exit 1 and a stale socket. Stop as a server error does: abort the operation
  // (its client still gets Completed), close the sessions, remove the socket, exit 2. Continuing
  // after an uncaught exception is unsafe, so the daemon does not try to.
  let fatalDeadline: NodeJS.Timeout | undefined;
  let resolveFatal!: (code: number) => void;
  const fatal = new Promise<number>((resolve) => {
    resolveFatal = resolve;
  });
  let fatalSeen = false;
  const onFatal = (error: unknown, origin: string) => {
    fatalSeen = true;
    logger.error('fatal error; stopping', { origin, error: describeError(error) });
    daemon.stop('error', 'abort');
    fatalDeadline ??= setTimeout(() => {
      logger.error('the daemon did not stop in time after a fatal error', { waitedMs: FATAL_STOP_MS });
      resolveFatal(EXIT.failed);
    }, FATAL_STOP_MS);
  };
  const onUncaught = (error: Error, origin: string) => onFatal(error, origin);
  const onRejection = (reason: unknown) => onFatal(reason, 'unhandledRejection');
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
  for (const signal of signals) process.on(signal, onSignal);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  try {
    const stopped = await Promise.race([daemon.finished, fatal]);
    // A fatal error during a stop that had already begun (a signal) still exits 2.
    const code = fatalSeen && stopped === EXIT.ok ? EXIT.failed : stopped;
    logger.info('tridentd stopped', { exitCode: code });
    return code;
  } finally {
    if (fatalDeadline !== undefined) clearTimeout(fatalDeadline);
    for (const signal of signals) process.off(signal, onSignal);
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
  }
}
