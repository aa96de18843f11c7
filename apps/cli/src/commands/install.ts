import { readFile } from 'node:fs/promises';
import { resolveDatastorePath } from '@trident/datastore';
import type { AllowedOperations, EngineRequest, TargetRequest } from '@trident/engine';
import { parseAllowedOperations } from '../allowed-operations.ts';
import { CliError, EXIT } from '../cli-error.ts';
import type { Output } from '../output.ts';
import { parseSize } from '../parse-size.ts';
import { commonRequest, runServicing, type ServicingFlags } from './stream-disk.ts';

/**
 * `trident install [config]`: a clean install driven by a Host Configuration. `--disk ID=PATH`
 * redirects a configured disk (e.g. to a loop device); `--disk ID=image:FILE[:SIZE]` writes a
 * disk-image file instead. `--allowed-operations stage` stops after staging (recorded in the
 * `--datastore`); `--allowed-operations finalize` finalizes what was staged, reading the Host
 * Configuration from that datastore when no file is named.
 */
export async function installCommand(
  config: { path: string; explicit: boolean },
  output: Output,
  flags: ServicingFlags,
): Promise<number> {
  const { path } = config;
  const operations: AllowedOperations = parseAllowedOperations(flags.allowedOperations);
  const splitRun = !(operations.stage && operations.finalize);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    // Finalize-only takes the staged document: a file is only read when one was named.
    if (!operations.stage && !config.explicit) text = undefined;
    else
      throw new CliError(
        'CLI_CONFIG_UNREADABLE',
        `cannot read Host Configuration ${path}: ${(error as Error).message}`,
        EXIT.io,
      );
  }
  const disks: Record<string, TargetRequest> = {};
  for (const spec of flags.disk) {
    const match = /^([^=]+)=(.+)$/u.exec(spec);
    if (!match)
      throw new CliError(
        'CLI_BAD_OPTION',
        `--disk for install must be DISK_ID=/dev/path or DISK_ID=image:FILE[:SIZE], not "${spec}"`,
      );
    const [, id, where] = match as unknown as [string, string, string];
    if (where.startsWith('image:')) {
      const [file, size] = where.slice('image:'.length).split(':');
      const bytes = parseSize(size, '--disk size');
      disks[id] = {
        kind: 'image-file',
        path: file!,
        ...(bytes === undefined ? {} : { size: bytes }),
        overwrite: flags.force,
      };
    } else {
      disks[id] = { kind: 'disk', path: where };
    }
  }
  const request: EngineRequest = {
    kind: 'install',
    ...(text === undefined ? {} : { hostConfiguration: { text, path } }),
    disks,
    ...(splitRun
      ? { allowedOperations: operations, stagingDatastore: resolveDatastorePath(flags.datastore) }
      : {}),
    ...commonRequest(flags),
  };
  return runServicing(request, output, flags);
}
