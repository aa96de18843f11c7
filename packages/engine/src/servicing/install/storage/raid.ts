/**
 * Software RAID for a clean install (upstream `engine/storage/raid.rs`, `osutils/mdadm.rs`): each
 * configured array created with mdadm over its member partitions once the tables exist, its node
 * awaited from udev, and with `raid.syncTimeout` the initial sync awaited; arrays this run made are
 * stopped again when it ends (the installed OS assembles them from its own mdadm.conf).
 */
import { readFile } from 'node:fs/promises';
import { runTool } from '@trident/exec';
import type { HostConfiguration } from '@trident/host-config';
import { EngineError, wrapStep } from '../../../errors.ts';
import type { Log } from '../../phases/run-session.ts';
import { kernelName, waitForNode } from './block-nodes.ts';
import { mdadmLevel } from './stacked-devices.ts';

export interface CreatedArray {
  id: string;
  name: string;
  /** `/dev/md/<name>`. */
  path: string;
  /** mdadm's array UUID (`MD_UUID`, `xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx`): dracut's `rd.md.uuid`. */
  uuid: string;
}

/** First wait between sync checks, and the longest (upstream: 5 s doubling to 60 s). */
const SYNC_POLL_FIRST_MS = 5_000;
const SYNC_POLL_MAX_MS = 60_000;

/** The mdadm command line that creates one array (upstream's, plus `--run`: see below). */
export function mdadmCreateArgs(
  array: HostConfiguration['storage']['raid']['software'][number],
  members: readonly string[],
): string[] {
  return [
    '--create',
    `/dev/md/${array.name}`,
    `--level=${mdadmLevel(array.level)}`,
    `--raid-devices=${members.length}`,
    ...members,
    // Metadata at the end of the members: each RAID1 member reads as the plain filesystem, which
    // firmware needs for an ESP on RAID.
    '--metadata=1.0',
    // Local on every host: the installed OS boots the image's generic initrd, which has no
    // mdadm.conf and would otherwise assemble an array made on the management OS as foreign,
    // under a `<homehost>:<name>` link instead of /dev/md/<name>. Upstream adds this for UKI
    // images, whose initrd it cannot regenerate either; this engine never regenerates it.
    '--homehost=any',
    // mdadm asks "Continue creating array?" when a member holds old signatures; there is no
    // terminal to answer it, and the disks were chosen for this install.
    '--run',
  ];
}

/**
 * Creates every configured array from its members' partition nodes (`memberPath`), in
 * configuration order. On failure the arrays made so far are stopped before the error is thrown.
 */
export async function createArrays(
  config: HostConfiguration,
  memberPath: (id: string) => string,
  signal: AbortSignal,
  log: Log,
): Promise<CreatedArray[]> {
  const created: CreatedArray[] = [];
  try {
    for (const array of config.storage.raid.software) {
      signal.throwIfAborted();
      const members = array.devices.map(memberPath);
      for (const member of members) await waitForNode(member, signal, 'create-raid');
      const path = `/dev/md/${array.name}`;
      log('info', `Creating RAID array ${path} (${array.level}) from ${members.join(', ')}`);
      try {
        await runTool('mdadm', mdadmCreateArgs(array, members), { signal });
      } catch (error) {
        throw wrapStep('SERVICING_ERROR', 'create-raid', `Failed to create RAID array '${array.id}'`, error);
      }
      await udevWait(path, signal);
      created.push({ id: array.id, name: array.name, path, uuid: await arrayUuid(path, signal) });
    }
    const timeout = config.storage.raid.syncTimeout;
    if (timeout !== undefined && created.length > 0) await waitForSync(created, timeout, signal, log);
    await runTool('udevadm', ['trigger'], { okCodes: 'any', signal });
    await runTool('udevadm', ['settle'], { okCodes: 'any', signal });
    return created;
  } catch (error) {
    await stopArrays(created, log).catch((stopError: unknown) =>
      log('warn', `After the failure, ${(stopError as Error).message}`),
    );
    throw error;
  }
}

/** `udevadm wait` for the array's link; older udevadm without `wait`: settle, then poll. */
async function udevWait(path: string, signal: AbortSignal): Promise<void> {
  const waited = await runTool('udevadm', ['wait', '--timeout=60', path], { okCodes: 'any', signal });
  if (waited.exitCode !== 0) await runTool('udevadm', ['settle'], { okCodes: 'any', signal });
  await waitForNode(path, signal, 'create-raid');
}

async function arrayUuid(path: string, signal: AbortSignal): Promise<string> {
  const { stdout } = await runTool('mdadm', ['--detail', '--export', path], { signal }).catch((error) => {
    throw wrapStep('SERVICING_ERROR', 'create-raid', `Failed to read the details of ${path}`, error);
  });
  const uuid = /^MD_UUID=(.+)$/mu.exec(stdout)?.[1]?.trim();
  if (!uuid)
    throw new EngineError(
      'SERVICING_ERROR',
      'create-raid',
      `mdadm --detail --export ${path} printed no MD_UUID`,
    );
  return uuid;
}

/**
 * Polls each array's `md/sync_action` until all are `idle`, sleeping 5 s doubling to 60 s, for at
 * most `timeoutSeconds` (upstream's `raid.syncTimeout`); a timeout fails `create-raid`.
 */
async function waitForSync(
  arrays: readonly CreatedArray[],
  timeoutSeconds: number,
  signal: AbortSignal,
  log: Log,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let pause = SYNC_POLL_FIRST_MS;
  for (;;) {
    const busy: string[] = [];
    for (const array of arrays) {
      const name = await kernelName(array.path);
      const action = (await readFile(`/sys/devices/virtual/block/${name}/md/sync_action`, 'utf8')).trim();
      if (action !== 'idle') busy.push(`${array.path} (${action})`);
    }
    if (busy.length === 0) {
      log('info', `RAID arrays in sync: ${arrays.map((a) => a.path).join(', ')}`);
      return;
    }
    if (Date.now() >= deadline)
      throw new EngineError(
        'SERVICING_ERROR',
        'create-raid',
        `RAID arrays still syncing after raid.syncTimeout (${timeoutSeconds} s): ${busy.join(', ')}`,
        { code: 'ENGINE_RAID_SYNC_TIMEOUT' },
      );
    log('info', `Waiting for RAID sync: ${busy.join(', ')}`);
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())), signal);
    pause = Math.min(pause * 2, SYNC_POLL_MAX_MS);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Stops arrays (newest first); every failure is collected into one `cleanup-raid` error. */
export async function stopArrays(arrays: readonly CreatedArray[], log: Log): Promise<void> {
  const problems: string[] = [];
  for (const array of [...arrays].reverse()) {
    const result = await runTool('mdadm', ['--stop', array.path], { okCodes: 'any' });
    if (result.exitCode === 0) log('debug', `Stopped RAID array ${array.path}`);
    else problems.push(`mdadm --stop ${array.path}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
  }
  if (problems.length > 0)
    throw new EngineError(
      'SERVICING_ERROR',
      'cleanup-raid',
      `could not stop RAID arrays: ${problems.join('; ')}`,
    );
}
