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
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
  for (const signal of signals) process.on(signal, onSignal);
  try {
    const code = await daemon.finished;
    logger.info('tridentd stopped', { exitCode: code });
    return code;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}
