import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { CliError, EXIT, exitCodeFor } from './cli-error.ts';
import { OPTIONS } from './cli-options.ts';
import { createOutput, handleClosedOutput } from './output.ts';
import { sourceFlags } from './source-flags.ts';

// Commands are loaded when used: `cosi inspect` should not pay for the engine, gRPC or the addon.
const DEFAULT_CONFIG = '/etc/trident/config.yaml';
const hostConfig = () => import('./commands/host-config.ts');

const USAGE = `Usage: trident <command> [options]

Images (COSI):
  trident cosi inspect <cosi>                layout, filesystems and hashes of a COSI file
  trident cosi validate <cosi>               check a COSI (--profile trident|spec, --metadata-only, --sha384 HASH,
                                             --memory-limit SIZE)
  trident cosi hash <cosi>                   metadata SHA-384 to pin in a Host Configuration
  trident cosi build <disk.img> -o <out>     build a COSI from a raw GPT disk image
      [--level 1-22] [--window-log 10-31] [--long] [--seekable-frame-mib N] [--no-shrink]
      [--os-arch x86_64|arm64] [--bootloader grub] [--verity DATA:HASH:ROOTHASH] [--mount N=/path] [--id UUID]
  trident cosi extract <cosi> -o <dir>       every image, decompressed and verified, into a directory
      [--force]                              replace existing files (by rename, never through links)
  trident cosi push <file> <oci://ref>       publish a COSI as a single-layer OCI artifact

Provisioning:
  trident stream-disk <cosi> [--hash H]      write a COSI (>= 1.2) with its own layout onto a disk
      [--disk DEV | --target-image FILE [--target-size SIZE] [--force: replace a file not in use]] [--dry-run] [--strict]
      [--no-resize] [--allow-arch-mismatch] [--concurrency N] [--codec native|node-zlib|simple-zstd] [--resume]
      [--memory-limit SIZE]                  plan within SIZE (default: the cgroup limit, else free memory)
  trident install [config]                   clean install from a Host Configuration (default ${DEFAULT_CONFIG})
      [--disk ID=DEV | --disk ID=image:FILE[:SIZE]] [--dry-run] [--force] [--resume] [--memory-limit SIZE] ...
      [--allowed-operations stage,finalize]  stage alone records the staged host in the servicing OS's
      [--datastore PATH]                     datastore (default: trident.conf's, else Trident's path);
                                             finalize alone reads it, writes the new root's and the boot entry
  trident update [config]                    A/B update of this host (a change of only sysexts, confexts or netplan
                                             is a runtime update: applied live, no reboot): the new OS into the inactive volume, then one
      [--allowed-operations stage,finalize]  trial boot of it (default config ${DEFAULT_CONFIG}); reboots after
      [--no-reboot] [--datastore PATH]       finalize unless --no-reboot; [--dry-run] [--resume] [--memory-limit SIZE]
  Progress is live on a terminal; -q quiet, -v verbose, --json one event per line.
  Servicing exit codes: 0 ok, 1 invalid input, 2 servicing failed, 3 environment, 4 interrupted,
  5 unsupported configuration (no suitable disk, unsafe target).

Host Status (the datastore):
  trident get [status|configuration|last-error|rollback-chain|rollback-target]
      [--format yaml|json] [--datastore PATH] [-o FILE]   (trident get --help; read-only)
  trident commit [--datastore PATH] [--no-reboot]  on the first boot after a servicing: check the booted
                                             volume, run health checks, record it (trident commit --help)
  trident rollback [--check] [--runtime|--ab] [--allowed-operations stage,finalize] [--no-reboot]
      [--datastore PATH]                     undo the last update (trident rollback --help)

Daemon:
  trident daemon [options]                   run tridentd (gRPC, trident.v1) on /run/trident/trident.sock
  trident grpc-client [-s URI] version|stream-disk|validate|install|update|commit
                                             drive a daemon as Trident's client does (see apps/daemon/README.md)

Host Configuration:
  trident validate [config] [--image URL]    validate (default ${DEFAULT_CONFIG}); with an image, cross-check it
  trident config migrate <file> [-o out]     rewrite an older-API document to the current API
  trident config schema                      JSON Schema for editors

<cosi> is a path, file://, http(s):// or oci:// location. Remote options: --ca-file F, --header "N: v",
--plain-http, --platform os/arch[/variant], --username U with --password-stdin or TRIDENT_REGISTRY_PASSWORD,
--min-throughput RATE (default 1KiB/s) over --throughput-window DURATION (30s), --timeout DURATION (24h, 0: none).
Common options: --json (machine-readable output), -h/--help, -V/--version.
Exit codes: 0 ok, 1 invalid input, 2 bad command line, 3 I/O or environment failure, 4 interrupted,
141 standard output closed by its reader (e.g. trident ... | head -1).`;

function packageVersion(): string {
  // By the package's own name: this module also runs from the bundle (scripts/bundle.ts).
  return (createRequire(import.meta.url)('@trident/cli/package.json') as { version: string }).version;
}

async function main(argv: string[], signal: AbortSignal): Promise<number> {
  // These parse their own flags (-s, -v, --hash mean other things there) and exit with
  // Trident's codes unchanged.
  if (argv[0] === 'grpc-client') {
    const { runGrpcClient } = await import('@trident/daemon/client');
    return runGrpcClient(argv.slice(1), { signal, clientVersion: packageVersion() });
  }
  if (argv[0] === 'get') return (await import('./commands/get.ts')).getCommand(argv.slice(1));
  if (argv[0] === 'commit')
    return (await import('./commands/commit.ts')).commitCommand(argv.slice(1), signal);
  if (argv[0] === 'rollback')
    return (await import('./commands/rollback.ts')).rollbackCommand(argv.slice(1), signal);
  if (argv[0] === 'daemon') {
    const { runDaemonCli } = await import('@trident/daemon');
    return runDaemonCli(argv.slice(1));
  }
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', `${(error as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const output = createOutput(values.json);
  const source = sourceFlags(values);
  const [command, sub, target, extra] = positionals;
  const servicing = () => ({
    disk: values.disk,
    targetImage: values['target-image'],
    targetSize: values['target-size'],
    force: values.force,
    dryRun: values['dry-run'],
    strict: values.strict,
    noResize: values['no-resize'],
    allowArchMismatch: values['allow-arch-mismatch'],
    concurrency: values.concurrency,
    codec: values.codec,
    resume: values.resume,
    memoryLimit: values['memory-limit'],
    allowedOperations: values['allowed-operations'],
    datastore: values.datastore,
    verbosity: values.quiet
      ? ('quiet' as const)
      : values.verbose
        ? ('verbose' as const)
        : ('normal' as const),
    signal,
    source,
  });
  if (values.version || command === 'version') {
    const { codecSummary } = await import('./codec-info.ts');
    const codec = codecSummary();
    if (values.json) output.printJson({ version: packageVersion(), node: process.version, zstd: codec.info });
    else
      output.line(
        `trident ${packageVersion()} (node ${process.version}; zstd codec: ${codec.name}${codec.detail ? `, ${codec.detail}` : ''})`,
      );
    return EXIT.ok;
  }
  if (values.help || command === undefined || command === 'help') {
    output.line(USAGE);
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
  }
  const need = (value: string | undefined, what: string): string => {
    if (value === undefined)
      throw new CliError('CLI_MISSING_ARGUMENT', `trident ${command}${sub ? ` ${sub}` : ''} needs ${what}`);
    return value;
  };
  switch (command) {
    case 'validate':
      return (await hostConfig()).validateConfigCommand(sub ?? DEFAULT_CONFIG, output, {
        image: values.image,
        signal,
        source,
      });
    case 'config':
      if (sub === 'migrate') {
        return (await hostConfig()).migrateConfigCommand(need(target, 'a Host Configuration file'), output, {
          out: values.output,
        });
      }
      if (sub === 'schema') return (await hostConfig()).schemaCommand(output);
      throw new CliError('CLI_UNKNOWN_COMMAND', `unknown command "config ${sub ?? ''}"\n\n${USAGE}`);
    case 'stream-disk':
    case 'stream-image':
      return (await import('./commands/stream-disk.ts')).streamDiskCommand(
        need(sub, 'a COSI location'),
        values.hash,
        output,
        servicing(),
      );
    case 'install':
      return (await import('./commands/install.ts')).installCommand(
        sub === undefined ? { path: DEFAULT_CONFIG, explicit: false } : { path: sub, explicit: true },
        output,
        servicing(),
      );
    case 'update':
      return (await import('./commands/update.ts')).updateCommand(sub ?? DEFAULT_CONFIG, output, {
        ...servicing(),
        allowedOperations: values['allowed-operations'],
        noReboot: values['no-reboot'],
        datastore: values.datastore,
      });
    case 'cosi':
      break;
    default:
      throw new CliError('CLI_UNKNOWN_COMMAND', `unknown command "${command}"\n\n${USAGE}`);
  }
  switch (sub) {
    case 'inspect':
      return (await import('./commands/cosi-inspect.ts')).inspectCommand(
        need(target, 'a COSI location'),
        output,
        { signal, source },
      );
    case 'validate':
      return (await import('./commands/cosi-validate.ts')).validateCommand(
        need(target, 'a COSI location'),
        output,
        {
          profile: values.profile,
          metadataOnly: values['metadata-only'],
          sha384: values.sha384,
          memoryLimit: values['memory-limit'],
          signal,
          source,
        },
      );
    case 'hash':
      return (await import('./commands/cosi-hash.ts')).hashCommand(need(target, 'a COSI location'), output, {
        signal,
        source,
      });
    case 'build':
      return (await import('./commands/cosi-build.ts')).buildCommand(
        need(target, 'a raw GPT disk image'),
        output,
        {
          output: values.output,
          level: values.level,
          windowLog: values['window-log'],
          long: values.long,
          seekableFrameMib: values['seekable-frame-mib'],
          noShrink: values['no-shrink'],
          osArch: values['os-arch'],
          bootloader: values.bootloader,
          verity: values.verity,
          mount: values.mount,
          id: values.id,
          signal,
        },
      );
    case 'extract':
      return (await import('./commands/cosi-extract.ts')).extractCommand(
        need(target, 'a COSI location'),
        output,
        { directory: values.output, force: values.force, signal, source },
      );
    case 'push':
      return (await import('./commands/cosi-push.ts')).pushCommand(
        need(target, 'a COSI file'),
        extra,
        output,
        { signal, source },
      );
    default:
      throw new CliError('CLI_UNKNOWN_COMMAND', `unknown command "cosi ${sub ?? ''}"\n\n${USAGE}`);
  }
}

const controller = new AbortController();
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  // A second signal of the same kind falls back to Node's default: the process ends at once.
  process.once(name, () =>
    controller.abort(new CliError('CLI_INTERRUPTED', `interrupted by ${name}`, EXIT.interrupted)),
  );
}
// A reader that went away (`trident … | head -1`) ends the command as SIGPIPE would a C tool:
// quietly, running work cancelled and cleaned up, exit 141 (128 + SIGPIPE).
handleClosedOutput(() => {
  process.exitCode = EXIT.pipe; // also when the command had already finished writing
  if (!controller.signal.aborted)
    controller.abort(new CliError('CLI_STDOUT_CLOSED', 'standard output was closed', EXIT.pipe));
});

/** Exit 4 whenever a signal interrupted the command, whichever error the interrupted step raised. */
function interruptedExit(): number | undefined {
  const reason = controller.signal.reason;
  return controller.signal.aborted && reason instanceof CliError ? reason.exitCode : undefined;
}

main(process.argv.slice(2), controller.signal).then(
  (code) => {
    const interrupted = interruptedExit();
    // Output lost to a closed pipe is never a success; a signal that came after the work was done
    // interrupted nothing.
    process.exitCode = interrupted === EXIT.pipe || code !== EXIT.ok ? (interrupted ?? code) : code;
  },
  (error: unknown) => {
    const interrupted = interruptedExit();
    if (interrupted === EXIT.pipe) {
      process.exitCode = interrupted;
      return;
    }
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    if (interrupted !== undefined) {
      const reason = (controller.signal.reason as CliError).message;
      process.stderr.write(
        `trident: [CLI_INTERRUPTED] ${reason}${message === reason ? '' : ` (${message})`}\n`,
      );
    } else {
      process.stderr.write(`trident: ${code ? `[${code}] ` : ''}${message}\n`);
    }
    if (process.env['TRIDENT_DEBUG'] && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    process.exitCode = interrupted ?? exitCodeFor(error);
  },
);
