import {
  createReclaimer,
  discardPlan,
  type EngineRequest,
  type Plan,
  plan,
  type RunResult,
  run,
  type TargetRequest,
} from '@trident/engine';
import { formatBytes } from '@trident/units';
import { CODECS, isCodec } from '@trident/zstd-native';
import { CliError, EXIT } from '../cli-error.ts';
import type { Output } from '../output.ts';
import { parseSize } from '../parse-size.ts';
import { createProgressDisplay, type Verbosity } from '../progress-display.ts';
import { remoteOptions, type SourceFlags } from '../source-options.ts';

export interface ServicingFlags {
  disk: string[];
  targetImage: string | undefined;
  targetSize: string | undefined;
  force: boolean;
  dryRun: boolean;
  strict: boolean;
  noResize: boolean;
  allowArchMismatch: boolean;
  concurrency: string | undefined;
  codec: string | undefined;
  resume: boolean;
  /** `--memory-limit`: a size (8G, 200M, 200MiB, bytes). */
  memoryLimit: string | undefined;
  /** install: `--allowed-operations` (repeatable, comma lists), `--datastore` (the staging datastore). */
  allowedOperations?: string[] | undefined;
  datastore?: string | undefined;
  verbosity: Verbosity;
  signal: AbortSignal;
  /** Remote-source flags (--header, --ca-file, --username, --platform, --plain-http...). */
  source: SourceFlags;
}

/** Servicing exit codes: Trident's 2 ("Failed") for servicing failures, finer classes around it. */
export const SERVICING_EXIT: Record<string, number> = {
  INVALID_INPUT_ERROR: EXIT.invalid,
  SERVICING_ERROR: 2,
  INTERNAL_ERROR: 2,
  HEALTH_CHECKS_ERROR: 2,
  EXECUTION_ENVIRONMENT_MISCONFIGURATION_ERROR: EXIT.io,
  INITIALIZATION_ERROR: EXIT.io,
  UNSUPPORTED_CONFIGURATION_ERROR: 5,
};

export function commonRequest(flags: ServicingFlags) {
  const concurrency = flags.concurrency === undefined ? undefined : Number(flags.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16)) {
    throw new CliError('CLI_BAD_OPTION', `--concurrency must be 1 to 16, not "${flags.concurrency}"`);
  }
  if (flags.codec !== undefined && !isCodec(flags.codec)) {
    const names = `${CODECS.slice(0, -1).join(', ')} or ${CODECS.at(-1)}`;
    throw new CliError('CLI_BAD_OPTION', `--codec must be ${names}, not "${flags.codec}"`);
  }
  // The same options `cosi inspect`/`validate` use, parsed (and refused when invalid) in one place,
  // then handed to the engine, which passes them to remote-source untouched.
  const source = remoteOptions(flags.source);
  const memoryLimit = parseSize(flags.memoryLimit, '--memory-limit');
  return {
    ...(memoryLimit === undefined ? {} : { memoryLimit }),
    source,
    profile: flags.strict ? ('spec' as const) : ('trident' as const),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(flags.codec === undefined ? {} : { codec: flags.codec }),
    resume: flags.resume,
    allowArchMismatch: flags.allowArchMismatch,
  };
}

function streamTarget(flags: ServicingFlags): TargetRequest {
  if (flags.targetImage && flags.disk.length > 0)
    throw new CliError('CLI_BAD_OPTION', 'use either --disk or --target-image, not both');
  if (flags.disk.length > 1)
    throw new CliError('CLI_BAD_OPTION', 'stream-disk writes one disk: give --disk once');
  if (flags.targetImage) {
    const size = parseSize(flags.targetSize, '--target-size');
    return {
      kind: 'image-file',
      path: flags.targetImage,
      ...(size === undefined ? {} : { size }),
      overwrite: flags.force,
    };
  }
  if (flags.allowArchMismatch)
    throw new CliError(
      'CLI_BAD_OPTION',
      '--allow-arch-mismatch is only for --target-image (a disk must boot on this host)',
    );
  return flags.disk[0] ? { kind: 'disk', path: flags.disk[0] } : { kind: 'auto' };
}

/** `trident stream-disk <url> [--hash H]`: the image's own layout, onto the smallest disk that fits or a file. */
export async function streamDiskCommand(
  url: string,
  hash: string | undefined,
  output: Output,
  flags: ServicingFlags,
): Promise<number> {
  const request: EngineRequest = {
    kind: 'stream-disk',
    url,
    ...(hash === undefined ? {} : { sha384: hash }),
    target: streamTarget(flags),
    resize: !flags.noResize,
    ...commonRequest(flags),
  };
  return runServicing(request, output, flags);
}

/** Shared by stream-disk and install: plan, print (dry run) or run with progress, summarise. */
export async function runServicing(
  request: EngineRequest,
  output: Output,
  flags: ServicingFlags,
  /** After a successful run (not a dry run): e.g. update's reboot. Returns the exit code. */
  onSuccess?: (result: RunResult) => number,
): Promise<number> {
  const display = createProgressDisplay({ json: output.json, verbosity: flags.verbosity });
  let planned: Plan;
  try {
    planned = await plan(request, { signal: flags.signal });
  } catch (error) {
    if (flags.signal.aborted) return interrupted(flags.signal, output, (error as Error).message);
    const info = (error as { tridentError?: { kind: string; subkind: string; code: string } }).tridentError;
    if (info) {
      output.error(`trident: ${info.kind}:${info.subkind}: [${info.code}] ${(error as Error).message}`);
      return SERVICING_EXIT[info.kind] ?? 2;
    }
    throw error;
  }
  if (flags.dryRun) {
    await discardPlan(planned);
    if (output.json) output.printJson(printablePlan(planned));
    else printPlan(planned, output, true);
    return EXIT.ok;
  }
  // Warnings reach the run's log as events; the plan printed before a run leaves them out.
  if (!output.json && flags.verbosity !== 'quiet') printPlan(planned, output, false);
  const reclaimMemory = createReclaimer();
  const result = await run(planned, {
    signal: flags.signal,
    onEvent: (event) => display.onEvent(event),
    ...(reclaimMemory ? { reclaimMemory } : {}),
  });
  display.finish();
  if (result.status === 'success') {
    if (!output.json) {
      const stats = result.stats;
      output.line(
        `done: ${result.imageHash ?? 'nothing written'}${stats ? ` — ${formatBytes(stats.bytesWritten)} written from ${formatBytes(stats.compressedBytes)} in ${stats.elapsed.toFixed(1)} s` : ''}${result.rebootRequired ? '; reboot to boot the new OS' : ''}`,
      );
    }
    return onSuccess?.(result) ?? EXIT.ok;
  }
  const error = result.error;
  if (flags.signal.aborted) return interrupted(flags.signal, output, error?.errorMessage);
  if (!output.json && error)
    output.error(
      `trident: servicing failed with error: ${error.kind}:${error.subkind}: [${error.code}] ${error.errorMessage}`,
    );
  return error ? (SERVICING_EXIT[error.kind] ?? 2) : 2;
}

/**
 * An interrupted plan or run: exit 4 and say so, whatever step noticed the signal (README: 4 for
 * SIGINT/SIGTERM). The engine has already released the targets and removed what it created.
 */
function interrupted(signal: AbortSignal, output: Output, detail: string | undefined): number {
  const reason = signal.reason instanceof CliError ? signal.reason : undefined;
  // A closed stdout ends quietly (see handleClosedOutput); a signal says what it interrupted.
  if (reason?.exitCode === EXIT.pipe) return EXIT.pipe;
  output.error(
    `trident: [CLI_INTERRUPTED] ${reason?.message ?? 'interrupted'}${detail ? ` (${detail})` : ''}`,
  );
  return EXIT.interrupted;
}

/** The plan as `--dry-run --json` prints it: credentials and CA bytes replaced by placeholders. */
export function printablePlan(planned: Plan): unknown {
  const source = planned.request.source;
  if (source === undefined) return planned;
  const headers = source.headers
    ? Object.fromEntries(
        Object.entries(source.headers).map(([name, value]) => [
          name,
          /^(authorization|cookie|proxy-authorization)$/iu.test(name) ? '<redacted>' : value,
        ]),
      )
    : undefined;
  return {
    ...planned,
    request: {
      ...planned.request,
      source: {
        ...source,
        ...(headers ? { headers } : {}),
        ...(source.credentials ? { credentials: '<redacted>' } : {}),
        ...(source.ca ? { ca: '<CA bundle>' } : {}),
        ...(source.proxy ? { proxy: '<redacted>' } : {}),
      },
    },
  };
}

function printPlan(planned: Plan, output: Output, warnings: boolean): void {
  // An update that only finalizes (or has nothing to do) opens no image.
  if (planned.source.metadataSha384 !== '')
    output.line(
      `image  ${planned.source.url} (COSI ${planned.source.cosiVersion}, ${planned.source.osArch}, metadata sha384:${planned.source.metadataSha384})`,
    );
  for (const target of planned.targets) {
    output.line(
      `target ${target.path} (${target.kind}, ${formatBytes(target.size)}, ${target.sectorSize}-byte sectors)`,
    );
    for (const disk of target.considered ?? []) {
      if (!disk.chosen)
        output.line(`  skipped ${disk.path} (${formatBytes(disk.size)}): ${disk.reason ?? ''}`);
    }
  }
  if (planned.memory) output.line(planned.memory);
  if (warnings) for (const warning of planned.warnings) output.line(`warning: ${warning}`);
  for (const [i, step] of planned.steps.entries()) output.line(`  ${i + 1}. ${step}`);
}
