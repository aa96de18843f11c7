import { open } from 'node:fs/promises';
import { runBuildTool } from './build-tool.ts';
import { probeFilesystemBytes, readProbeBytes } from './probe-fs.ts';

export interface ShrinkResult {
  /** Bytes the shrunk filesystem spans: Block count x Block size, from its superblock. */
  size: number;
}

/**
 * Env pinning every clock e2fsprogs reads, so shrinking the same image twice gives the same bytes:
 * e2fsck's check time (E2FSCK_TIME), libext2fs timestamps (E2FSPROGS_FAKE_TIME), and anything
 * honouring SOURCE_DATE_EPOCH.
 */
export function pinnedTimeEnv(timestamp: number): Record<string, string> {
  const t = String(Math.max(1, Math.floor(timestamp)));
  return { E2FSCK_TIME: t, E2FSPROGS_FAKE_TIME: t, SOURCE_DATE_EPOCH: t };
}

/**
 * Shrinks an extracted ext2/3/4 filesystem to its minimum size with the standard tools (COSI 1.2
 * §2.6: writers SHOULD shrink, only with standard tools): `e2fsck -fy`, then `resize2fs -M`.
 * Returns undefined when e2fsck finds damage it cannot fix, so the caller keeps the raw partition.
 */
export async function shrinkExtFilesystem(
  path: string,
  timestamp: number,
  signal?: AbortSignal,
): Promise<ShrinkResult | undefined> {
  const env = pinnedTimeEnv(timestamp);
  const withSignal = signal ? { signal } : {};
  // e2fsck: 0 clean, 1 fixed, 2 fixed (reboot advised); 4 and up means errors were left.
  const fsck = await runBuildTool('e2fsck', ['-f', '-y', path], {
    env,
    okCodes: [0, 1, 2, 4, 8, 12],
    ...withSignal,
  });
  if (fsck.code >= 4) return undefined;
  await runBuildTool('resize2fs', ['-M', path], { env, ...withSignal });
  const handle = await open(path, 'r');
  try {
    const probe = probeFilesystemBytes(await readProbeBytes(handle, 0, (await handle.stat()).size));
    return probe?.size === undefined ? undefined : { size: probe.size };
  } finally {
    await handle.close();
  }
}
