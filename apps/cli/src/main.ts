import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CliError, EXIT, exitCodeFor } from './cli-error.ts';
import { codecSummary } from './codec-info.ts';
import { buildCommand } from './commands/cosi-build.ts';
import { extractCommand } from './commands/cosi-extract.ts';
import { hashCommand } from './commands/cosi-hash.ts';
import { inspectCommand } from './commands/cosi-inspect.ts';
import { validateCommand } from './commands/cosi-validate.ts';
import { createOutput } from './output.ts';

const USAGE = `Usage: trident <command> [options]

Commands:
  trident --version                          version and active zstd codec
  trident cosi inspect <cosi>                layout, filesystems and hashes of a COSI file
  trident cosi validate <cosi>               check a COSI file (--profile trident|spec, --metadata-only, --sha384 HASH)
  trident cosi hash <cosi>                   metadata SHA-384 to pin in a Host Configuration
  trident cosi build <disk.img> -o <out>     build a COSI from a raw GPT disk image
      [--level 1-22] [--window-log 10-31] [--long] [--seekable-frame-mib N] [--no-shrink]
      [--os-arch x86_64|arm64] [--bootloader grub] [--verity DATA:HASH:ROOTHASH] [--mount N=/path] [--id UUID]
  trident cosi extract <cosi> -o <dir>       write each image, decompressed and verified, to a directory

<cosi> is a path, file://, http(s):// or oci:// location.
Common options: --json (machine-readable output), -h/--help.
Exit codes: 0 ok, 1 invalid input, 2 bad command line, 3 I/O or environment failure, 4 interrupted.`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'V', default: false },
      profile: { type: 'string', default: 'trident' },
      'metadata-only': { type: 'boolean', default: false },
      sha384: { type: 'string' },
      output: { type: 'string', short: 'o' },
      level: { type: 'string' },
      'window-log': { type: 'string' },
      long: { type: 'boolean', default: false },
      'seekable-frame-mib': { type: 'string' },
      'no-shrink': { type: 'boolean', default: false },
      'os-arch': { type: 'string' },
      bootloader: { type: 'string' },
      verity: { type: 'string', multiple: true, default: [] },
      mount: { type: 'string', multiple: true, default: [] },
      id: { type: 'string' },
    },
  });
  const output = createOutput(values.json);
  const [command, sub, target] = positionals;
  if (values.version || command === 'version') {
    const codec = await codecSummary();
    if (values.json) output.printJson({ version: packageVersion(), node: process.version, zstd: codec });
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
  if (command !== 'cosi')
    throw new CliError('CLI_UNKNOWN_COMMAND', `unknown command "${command}"\n\n${USAGE}`);
  const need = (what: string): string => {
    if (target === undefined) throw new CliError('CLI_MISSING_ARGUMENT', `trident cosi ${sub} needs ${what}`);
    return target;
  };
  switch (sub) {
    case 'inspect':
      return inspectCommand(need('a COSI location'), output, { signal });
    case 'validate':
      return validateCommand(need('a COSI location'), output, {
        profile: values.profile,
        metadataOnly: values['metadata-only'],
        sha384: values.sha384,
        signal,
      });
    case 'hash':
      return hashCommand(need('a COSI location'), output, { signal });
    case 'build':
      return buildCommand(need('a raw GPT disk image'), output, {
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
      });
    case 'extract':
      return extractCommand(need('a COSI location'), output, { directory: values.output, signal });
    default:
      throw new CliError('CLI_UNKNOWN_COMMAND', `unknown command "cosi ${sub ?? ''}"\n\n${USAGE}`);
  }
}

const controller = new AbortController();
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.once(name, () =>
    controller.abort(new CliError('CLI_INTERRUPTED', `interrupted by ${name}`, EXIT.interrupted)),
  );
}

main(process.argv.slice(2), controller.signal).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`trident: ${code ? `[${code}] ` : ''}${message}\n`);
    if (process.env['TRIDENT_DEBUG'] && error instanceof Error && error.stack)
      process.stderr.write(`${error.stack}\n`);
    process.exitCode = exitCodeFor(error);
  },
);
