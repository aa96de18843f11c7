import { readFile } from 'node:fs/promises';
import type { EngineRequest } from '@trident/engine';
import { parseAllowedOperations } from '@trident/engine';
import { CliError, EXIT } from '../cli-error.ts';
import type { Output } from '../output.ts';
import { rebootHost } from '../reboot.ts';
import { commonRequest, runServicing, type ServicingFlags } from './stream-disk.ts';

export interface UpdateFlags extends ServicingFlags {
  /** `--allowed-operations` values (comma-separated lists, repeatable); absent: stage,finalize. */
  allowedOperations: string[] | undefined;
  /** Leave the reboot into the updated volume to the caller. */
  noReboot: boolean;
  datastore: string | undefined;
}

/**
 * `trident update [config]`: an A/B update of this host to a new Host Configuration (upstream's
 * `update [CONFIG] [--allowed-operations …]`). After a finalize the host reboots into the updated
 * volume, as upstream's CLI does, unless `--no-reboot` (ours: the caller reboots).
 */
export async function updateCommand(path: string, output: Output, flags: UpdateFlags): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(
      'CLI_CONFIG_UNREADABLE',
      `cannot read Host Configuration ${path}: ${(error as Error).message}`,
      EXIT.io,
    );
  }
  if (flags.disk.length > 0 || flags.targetImage !== undefined)
    throw new CliError(
      'CLI_BAD_OPTION',
      'update writes the inactive volume recorded at install: --disk and --target-image do not apply',
    );
  let allowedOperations: ReturnType<typeof parseAllowedOperations>;
  try {
    allowedOperations = parseAllowedOperations(flags.allowedOperations);
  } catch (error) {
    throw new CliError('CLI_BAD_OPTION', `--allowed-operations: ${(error as Error).message}`);
  }
  const request: EngineRequest = {
    kind: 'update',
    hostConfiguration: { text, path },
    allowedOperations,
    ...(flags.datastore === undefined ? {} : { datastorePath: flags.datastore }),
    resize: !flags.noResize,
    ...commonRequest(flags),
  };
  return runServicing(request, output, flags, (result) => {
    if (!result.rebootRequired) return EXIT.ok;
    if (flags.noReboot) {
      if (!output.json)
        output.line('--no-reboot: reboot to boot the updated volume (once; trident commit at boot keeps it)');
      return EXIT.ok;
    }
    if (!output.json) output.line('Rebooting into the updated volume');
    rebootHost('boot the updated volume');
    return EXIT.ok;
  });
}
