/**
 * `trident grpc-client [-s URI] [-v LEVEL] <command>`: talks to tridentd (or Trident) over gRPC.
 * Commands: version, stream-disk (alias stream-image), validate, install, update, commit.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { type AllowedOperations, parseAllowedOperations } from '@trident/engine/allowed-operations';
import { DaemonError, describeError, EXIT } from '../errors.ts';
import { CommitService } from '../gen/trident/v1/commit_service_pb.ts';
import { TridentErrorKind } from '../gen/trident/v1/error_pb.ts';
import { RebootHandling, type ServicingResponse } from '../gen/trident/v1/servicing_pb.ts';
import { StreamingService } from '../gen/trident/v1/streaming_service_pb.ts';
import { UpdateService } from '../gen/trident/v1/update_service_pb.ts';
import { VersionService } from '../gen/trident/v1/version_service_pb.ts';
import { InstallService } from '../gen/trident/v1preview/install_service_pb.ts';
import { ValidationService } from '../gen/trident/v1preview/validation_service_pb.ts';
import { createLogger } from '../logger.ts';
import { DEFAULT_REBOOT_COMMAND } from '../options.ts';
import { runRebootCommand } from '../reboot.ts';
import { daemonVersion } from '../services/version.ts';
import { formatLine, parseVerbosity, type Verbosity } from './print.ts';
import { createTransport, DEFAULT_SERVER_URI, parseServerAddress } from './server-address.ts';
import { CLIENT_TARGET, consumeServicingStream } from './servicing-client.ts';

export const GRPC_CLIENT_USAGE = `Usage: trident grpc-client [-s|--server URI] [-v|--verbosity LEVEL] <command>

Talks to the Trident daemon (tridentd, trident daemon) over gRPC.

Commands:
  version                                   client and daemon versions
  stream-disk <IMAGE_URL> [--hash HASH]     stream a COSI onto the host's disk (alias: stream-image);
              [--caller-handles-reboot]     HASH is 'ignored' (default) or 'sha384:<hex of metadata.json>'
  install [CONFIG]                          install from a Host Configuration (default /etc/trident/config.yaml)
          [--allowed-operations stage,finalize]  stage: InstallStage; finalize: InstallFinalize (no CONFIG read)
  validate [CONFIG]                         validate a Host Configuration with the daemon
  update [CONFIG] [--allowed-operations …]  A/B update: Update, UpdateStage or UpdateFinalize
  commit                                    commit the servicing that waits for this boot

Options:
  -s, --server URI        unix:///path/to.sock or http://host:port (default ${DEFAULT_SERVER_URI})
  -v, --verbosity LEVEL   OFF|ERROR|WARN|INFO|DEBUG|TRACE for forwarded logs (default DEBUG)

Exit codes: 0 success, 2 failure (servicing failed, gRPC error, bad command line), 3 reboot failed.`;

export const DEFAULT_CONFIG_PATH = '/etc/trident/config.yaml';

export interface GrpcClientIo {
  /** Results (versions, validation verdict). Default: process.stdout. */
  stdout?: (text: string) => void;
  /** Forwarded logs and errors. Default: process.stderr. */
  stderr?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Aborts the call (Ctrl-C). */
  signal?: AbortSignal;
  /** Version printed as `client:`; default this package's version. */
  clientVersion?: string;
}

const UNSUPPORTED = new Set(['listen', 'rebuild-raid', 'start-network', 'get', 'rollback']);

function statusName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Runs one grpc-client command; resolves with Trident's exit code and never calls process.exit. */
export async function runGrpcClient(argv: readonly string[], io: GrpcClientIo = {}): Promise<number> {
  const stdout = io.stdout ?? ((t: string) => process.stdout.write(t));
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  const env = io.env ?? process.env;
  const printErr = (line: string) => stderr(`${line}\n`);
  const fail = (message: string) => {
    printErr(formatLine('ERROR', CLIENT_TARGET, message));
    return EXIT.failed;
  };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${GRPC_CLIENT_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    stdout(`${GRPC_CLIENT_USAGE}\n`);
    return EXIT.ok;
  }
  const verbosity: Verbosity | undefined = parseVerbosity(values.verbosity ?? 'DEBUG');
  if (verbosity === undefined)
    return fail(`--verbosity '${values.verbosity}' is not OFF, ERROR, WARN, INFO, DEBUG or TRACE.`);
  const [command, ...rest] = positionals;
  if (command === undefined) return fail(`missing command\n\n${GRPC_CLIENT_USAGE}`);
  if (UNSUPPORTED.has(command)) return fail(`Unimplemented command: 'client-${command}'`);
  let transport: ReturnType<typeof createTransport>;
  try {
    transport = createTransport(parseServerAddress(values.server ?? DEFAULT_SERVER_URI));
  } catch (error) {
    return fail((error as Error).message);
  }
  const callOptions = io.signal === undefined ? {} : { signal: io.signal };
  const trident = { handling: RebootHandling.TRIDENT_HANDLES_REBOOT };
  const readConfig = async (path: string | undefined) => {
    const file = path ?? DEFAULT_CONFIG_PATH;
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new DaemonError(
        'DAEMON_CLIENT_USAGE',
        `Cannot read the Host Configuration ${file}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  };
  const servicing = async (stream: AsyncIterable<ServicingResponse>, callerReboots = false) => {
    const outcome = await consumeServicingStream(stream, printErr, verbosity);
    if (!outcome.rebootRequired || callerReboots) return outcome.exitCode;
    // Trident's client reboots the host itself when the daemon says REBOOT_REQUIRED.
    try {
      await runRebootCommand(
        env['TRIDENT_REBOOT_COMMAND'] ?? DEFAULT_REBOOT_COMMAND,
        createLogger({ write: printErr }),
        env,
      );
    } catch (error) {
      fail(describeError(error));
      return EXIT.rebootUnsuccessful;
    }
    return EXIT.ok;
  };

  try {
    switch (command) {
      case 'version': {
        const response = await createClient(VersionService, transport).version({}, callOptions);
        stdout(`client: ${io.clientVersion ?? daemonVersion(env)}\ndaemon: ${response.version}\n`);
        return EXIT.ok;
      }
      case 'stream-disk':
      case 'stream-image': {
        const [url] = rest;
        if (url === undefined || rest.length > 1)
          return fail(`${command} needs exactly one IMAGE_URL\n\n${GRPC_CLIENT_USAGE}`);
        const caller = values['caller-handles-reboot'] === true;
        const stream = createClient(StreamingService, transport).streamDisk(
          {
            imageUrl: url,
            ...(values.hash === undefined ? {} : { imageHash: values.hash }),
            reboot: {
              handling: caller ? RebootHandling.CALLER_HANDLES_REBOOT : RebootHandling.TRIDENT_HANDLES_REBOOT,
            },
          },
          callOptions,
        );
        return await servicing(stream, caller);
      }
      case 'install': {
        if (values.multiboot === true) return fail('install --multiboot is not supported over gRPC');
        const ops = operationsOf(values['allowed-operations']);
        if (typeof ops === 'string') return fail(ops);
        const install = createClient(InstallService, transport);
        // Upstream's client implements only both; the daemon has InstallStage/InstallFinalize.
        if (!ops.stage) return await servicing(install.installFinalize({ reboot: trident }, callOptions));
        const config = await readConfig(rest[0]);
        if (!ops.finalize) return await servicing(install.installStage({ config: { config } }, callOptions));
        return await servicing(
          install.install({ stage: { config: { config } }, finalize: { reboot: trident } }, callOptions),
        );
      }
      case 'update': {
        const ops = operationsOf(values['allowed-operations']);
        if (typeof ops === 'string') return fail(ops);
        const update = createClient(UpdateService, transport);
        if (!ops.stage) return await servicing(update.updateFinalize({ reboot: trident }, callOptions));
        const config = await readConfig(rest[0]);
        if (!ops.finalize) return await servicing(update.updateStage({ config: { config } }, callOptions));
        return await servicing(
          update.update({ stage: { config: { config } }, finalize: { reboot: trident } }, callOptions),
        );
      }
      case 'commit':
        return await servicing(
          createClient(CommitService, transport).commit({ reboot: trident }, callOptions),
        );
      case 'validate': {
        const config = await readConfig(rest[0]);
        const response = await createClient(ValidationService, transport).validateHostConfiguration(
          { config: { config } },
          callOptions,
        );
        if (response.ok) {
          stdout('Host Configuration is valid\n');
          return EXIT.ok;
        }
        const e = response.error;
        stdout(`Host Configuration is invalid\n`);
        return fail(
          `${e === undefined ? 'UNKNOWN' : kindName(e.kind)}:${e?.subkind ?? 'unknown'}: ${e?.message ?? ''}`,
        );
      }
      default:
        return fail(`unknown command '${command}'\n\n${GRPC_CLIENT_USAGE}`);
    }
  } catch (error) {
    if (error instanceof ConnectError) {
      if (error.code === Code.Canceled && io.signal?.aborted) return fail('Interrupted.');
      return fail(`gRPC call failed: ${statusName(error.code)}: ${error.rawMessage}`);
    }
    return fail(describeError(error));
  }
}

/** `--allowed-operations`, by the engine's one parser (a light subpath: the engine is not loaded). */
function operationsOf(values: string[] | undefined): AllowedOperations | string {
  let ops: AllowedOperations;
  try {
    ops = parseAllowedOperations(values);
  } catch (error) {
    return (error as Error).message;
  }
  // Upstream's client: `At least one allowed operation must be specified`.
  if (!ops.stage && !ops.finalize) return 'At least one allowed operation must be specified';
  return ops;
}

function kindName(kind: number): string {
  return (
    Object.keys(TridentErrorKind).find((k) => (TridentErrorKind as Record<string, number>)[k] === kind) ??
    String(kind)
  );
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      server: { type: 'string', short: 's' },
      verbosity: { type: 'string', short: 'v' },
      hash: { type: 'string' },
      'caller-handles-reboot': { type: 'boolean' },
      'allowed-operations': { type: 'string', multiple: true },
      multiboot: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
