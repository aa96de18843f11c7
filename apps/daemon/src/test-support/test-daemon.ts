/** Starts tridentd in-process on a socket in a temp dir, with its log captured. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Daemon, type DaemonDeps, startDaemon } from '../daemon.ts';
import { createLogger } from '../logger.ts';
import { type DaemonOptions, defaultDaemonOptions } from '../options.ts';

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  socketPath: string;
  logs: string[];
  /** Stops the daemon (aborting any operation) and removes the temp dir. */
  close(): Promise<number>;
}

export async function startTestDaemon(
  overrides: Partial<DaemonOptions> = {},
  deps: DaemonDeps = {},
): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'tridentd-test-'));
  const socketPath = overrides.socketPath ?? join(dir, 'run', 'trident.sock');
  const logs: string[] = [];
  const options = defaultDaemonOptions({
    inactivityTimeoutMs: 0,
    rebootCommand: 'false',
    rebootWaitMs: 0,
    logLevel: 'debug',
    // Never the host's datastore: a path in the test's directory, absent until a test writes it.
    datastorePath: join(dir, 'datastore.sqlite'),
    ...overrides,
    socketPath,
  });
  const daemon = await startDaemon(options, {
    logger: createLogger({ level: 'debug', journald: false, write: (line) => logs.push(line) }),
    activation: null,
    env: { ...process.env },
    ...deps,
  });
  return {
    daemon,
    dir,
    socketPath,
    logs,
    close: async () => {
      daemon.stop('signal', 'abort');
      const code = await daemon.finished;
      await rm(dir, { recursive: true, force: true });
      return code;
    },
  };
}
