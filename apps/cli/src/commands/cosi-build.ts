import { type BootloaderInfo, buildChannel, buildCosi, type VerityDeclaration } from '@trident/cosi-format';
import { formatBytes } from '@trident/units';
import { CliError } from '../cli-error.ts';
import type { Output } from '../output.ts';

export interface BuildFlags {
  output: string | undefined;
  level: string | undefined;
  windowLog: string | undefined;
  long: boolean;
  seekableFrameMib: string | undefined;
  noShrink: boolean;
  osArch: string | undefined;
  bootloader: string | undefined;
  verity: string[];
  mount: string[];
  id: string | undefined;
  signal: AbortSignal;
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CliError('CLI_BAD_OPTION', `${flag} must be an integer from ${min} to ${max}, not "${value}"`);
  return n;
}

function parseVerity(text: string): VerityDeclaration {
  const match = /^(\d+):(\d+):([0-9a-fA-F]{64,128})$/u.exec(text);
  if (!match)
    throw new CliError(
      'CLI_BAD_OPTION',
      `--verity must be DATA_PARTITION:HASH_PARTITION:ROOTHASH (e.g. 2:3:ab12...), not "${text}"`,
    );
  return {
    dataPartition: Number(match[1]),
    hashPartition: Number(match[2]),
    roothash: match[3]!.toLowerCase(),
  };
}

function parseMounts(values: string[]): Record<number, string> {
  const out: Record<number, string> = {};
  for (const value of values) {
    const match = /^(\d+)=(\/.*)$/u.exec(value);
    if (!match)
      throw new CliError(
        'CLI_BAD_OPTION',
        `--mount must be PARTITION=/mount/point (e.g. 3=/srv), not "${value}"`,
      );
    out[Number(match[1])] = match[2]!;
  }
  return out;
}

function parseBootloader(value: string | undefined): BootloaderInfo | undefined {
  if (value === undefined) return undefined;
  if (value === 'grub') return { type: 'grub' };
  throw new CliError(
    'CLI_BAD_OPTION',
    `--bootloader accepts "grub" (systemd-boot is detected from the ESP's loader entries and UKIs), not "${value}"`,
  );
}

/** `trident cosi build <disk.img> -o <out.cosi>`: a COSI 1.2 from a raw GPT disk image. */
export async function buildCommand(input: string, output: Output, flags: BuildFlags): Promise<number> {
  if (!flags.output)
    throw new CliError('CLI_MISSING_ARGUMENT', 'trident cosi build needs -o/--output <file.cosi>');
  const level = integer('--level', flags.level, 1, 22);
  const windowLog = integer('--window-log', flags.windowLog, 10, 31);
  const frameMib = integer('--seekable-frame-mib', flags.seekableFrameMib, 1, 1024);
  const bootloader = parseBootloader(flags.bootloader);
  const progress = (message: unknown): void => {
    if (output.json) return;
    const event = message as { stage?: string; partition?: number };
    output.error(
      `  ${event.stage ?? 'step'}${event.partition === undefined ? '' : ` partition ${event.partition}`}`,
    );
  };
  buildChannel.subscribe(progress);
  const started = performance.now();
  try {
    const result = await buildCosi({
      input,
      output: flags.output,
      compression: {
        ...(level === undefined ? {} : { level }),
        ...(windowLog === undefined ? {} : { windowLog }),
        longDistanceMatching: flags.long,
        ...(frameMib === undefined ? {} : { seekableFrameSize: frameMib * 1024 * 1024 }),
      },
      shrink: !flags.noShrink,
      ...(flags.osArch ? { osArch: flags.osArch } : {}),
      ...(bootloader ? { bootloader } : {}),
      ...(flags.verity.length > 0 ? { verity: flags.verity.map(parseVerity) } : {}),
      ...(flags.mount.length > 0 ? { mountPoints: parseMounts(flags.mount) } : {}),
      ...(flags.id ? { id: flags.id } : {}),
      signal: flags.signal,
    });
    const seconds = (performance.now() - started) / 1000;
    if (output.json) {
      output.printJson({
        output: flags.output,
        size: result.size,
        metadataSha384: result.metadataSha384,
        seconds,
        metadata: result.metadata,
      });
    } else {
      output.line(`wrote ${flags.output} (${formatBytes(result.size)}) in ${seconds.toFixed(1)} s`);
      output.line(`metadata sha384: ${result.metadataSha384}`);
    }
    return 0;
  } finally {
    buildChannel.unsubscribe(progress);
  }
}
