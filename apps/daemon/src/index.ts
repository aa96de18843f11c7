export { type DaemonCliIo, runDaemonCli } from './cli.ts';
export { type Daemon, type DaemonDeps, type StopReason, startDaemon } from './daemon.ts';
export { DaemonError, type DaemonErrorCode, EXIT, isDaemonError } from './errors.ts';
export {
  type DaemonOptions,
  DEFAULT_SOCKET_PATH,
  defaultDaemonOptions,
  parseDaemonArgs,
  type StopMode,
  USAGE,
} from './options.ts';
export { daemonVersion } from './services/version.ts';
