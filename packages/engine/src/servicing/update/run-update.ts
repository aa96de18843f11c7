/**
 * Carries out an update plan (upstream `engine/ab_update.rs` stage and finalize; reference
 * servicing.md §7). The order is the safety argument:
 *
 * - Stage writes only the update volume, whose partitions are opened exclusively (the running
 *   volume's are mounted, so the kernel refuses them), with the shared image phase and its journal
 *   (`--resume` skips re-verified images). Until `ab-update-staged` is recorded the Host Status
 *   says `provisioned` on the old volume and no boot setting has changed: an interrupted stage is
 *   simply run again. The new volume's boot entry is written beside the running one, which stays
 *   the default.
 * - Finalize records `ab-update-finalized` first and then sets `LoaderEntryOneShot` (systemd-boot
 *   entries; a UKI's, update-uki.ts, after naming it with the running entry pinned as default) or
 *   creates the volume's UEFI entry as `BootNext` (grub, update-grub.ts). Stopped in between,
 *   the host boots the old volume and commit records the update as not taken
 *   (`ab-update-reboot-check`); rerunning finalize sets the variable. The reverse order could boot
 *   the new volume with a Host Status that still calls the old one active.
 * - Both one-shot variables are consumed by the firmware's next boot: if the new volume fails to
 *   boot or its health checks fail (commit reboots), the default entry (BootOrder's first), the old
 *   volume, boots again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileTarget, growFilesystem, openPartitionTarget } from '@trident/block-writer';
import {
  type EspVolume,
  findVolumeEntry,
  hasGrubVolumeDir,
  setLoaderEntryOneShot,
  writeVolumeEntry,
} from '@trident/boot-config';
import { type Datastore, openDatastore } from '@trident/datastore';
import { type ExtensionLists, withExtensionPaths } from '@trident/os-config';
import { EngineError, toTridentError, wrapStep } from '../../errors.ts';
import type { Plan, RunResult } from '../../types.ts';
import { efivarsDirOf } from '../commit/efivars.ts';
import { bootTarget } from '../host/boot-target.ts';
import { configureOs, prepareHost, step } from '../host/configure-os.ts';
import { adoptedFilesystemTypes, mountNewRoot } from '../host/new-root.ts';
import { refreshUefiFallback } from '../host/uefi-fallback.ts';
import { removeJournal } from '../phases/journal.ts';
import { failedRun, type RunSession } from '../phases/run-session.ts';
import { type OpenedTarget, openTargets, releaseTargets } from '../phases/targets.ts';
import { writeImage } from '../phases/write-image.ts';
import { writeImages } from '../phases/write-images.ts';
import { finalizeRuntimeUpdate, stageRuntimeUpdate } from '../runtime-update/runtime-update.ts';
import { memberOn } from './active-volume.ts';
import type { UpdateContext } from './plan-update.ts';
import type { UpdateRequest } from './request.ts';
import { openHostEsp, volumeToken, withImageEsp } from './update-boot.ts';
import {
  bootFilesystem,
  checkGrubFinalize,
  finalizeGrubVolume,
  grubVolumeDir,
  stageGrubVolume,
} from './update-grub.ts';
import { finalizeUkiVolume, hasVolumeUki, stageUkiVolume, volumeUkiPattern } from './update-uki.ts';

type UpdatePlan = Plan & { request: UpdateRequest };

function deviceOf(context: UpdateContext, id: string): string {
  const member = memberOn(context.config, id, context.volumes!.target);
  const device = context.devices[member];
  if (device === undefined)
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'partitions-removed',
      `partition '${member}' recorded at install is not on this host`,
      { code: 'ENGINE_UPDATE_PARTITION_MISSING' },
    );
  return device;
}

/** Streams every image into the update volume's partitions; returns the compressed bytes read. */
async function writeVolume(plan: UpdatePlan, context: UpdateContext, session: RunSession): Promise<number> {
  let opened: OpenedTarget[] = [];
  let succeeded = false;
  try {
    opened = await openTargets(
      plan,
      plan.targets.map((target) => ({
        gptRegion: new Uint8Array(),
        lbaSize: target.sectorSize,
        partitionCount: 0,
      })),
      context.protect,
      session.log,
      { open: async (planned) => (await openPartitionTarget(planned.path)).target, wipe: false },
    );
    const bytes = await writeImages(plan, opened, context.reader!, session);
    succeeded = true;
    return bytes;
  } finally {
    await releaseTargets(opened, { succeeded, log: session.log });
    if (succeeded) for (const entry of opened) await removeJournal(entry.journalFile);
  }
}

async function growVolume(plan: UpdatePlan, context: UpdateContext, session: RunSession): Promise<void> {
  for (const [index, image] of plan.images.entries()) {
    if (!image.grow) continue;
    const partition = context.partitions[index]!;
    session.signal.throwIfAborted();
    try {
      const result = await growFilesystem({
        disk: partition.disk,
        partition: { number: partition.number, offset: partition.start, size: partition.size },
        partitionDevice: partition.device,
        fsType: image.fsType,
        signal: session.signal,
      });
      session.log(
        'info',
        `'${image.id}' (${partition.device}): filesystem ${result.action} (${result.reason})`,
      );
    } catch (error) {
      throw wrapStep(
        'SERVICING_ERROR',
        'resize-filesystems',
        `Failed to grow the filesystem on '${image.id}'`,
        error,
      );
    }
  }
}

/** The COSI's ESP filesystem, decoded and verified into a private file (its entry and kernel are copied). */
async function extractEsp(context: UpdateContext, dir: string, session: RunSession): Promise<string> {
  const image = context.espImage!;
  const path = join(dir, 'esp.img');
  const target = await createFileTarget(path, { size: image.uncompressedSize });
  try {
    await writeImage(target, context.reader!, image, {
      signal: session.signal,
      sparse: true,
      emit: session.emit,
      onBytes: () => undefined,
      reclaimMemory: session.reclaimMemory,
    });
  } finally {
    await target.close();
  }
  return path;
}

async function stage(
  plan: UpdatePlan,
  context: UpdateContext,
  store: Datastore,
  session: RunSession,
): Promise<number> {
  const { config } = context;
  const target = context.volumes!.target;
  let spec = context.spec;
  if (context.state === 'ab-update-staged' || context.state === 'runtime-update-staged') {
    session.log('info', `Abandoning the update staged earlier (${context.state})`);
    store.apply({ type: 'staged-update-abandoned' });
  }
  await prepareHost(config, 'ab-update', session);
  const bytes = await writeVolume(plan, context, session);
  await growVolume(plan, context, session);
  const imageFilesystemTypes: Record<string, string> = {};
  for (const image of context.reader!.metadata.images) imageFilesystemTypes[image.mountPoint] = image.fsType;
  const work = await mkdtemp(join(tmpdir(), 'trident-update-'));
  try {
    const espFile = await step(session, 'deploy-esp-images', "Extracting the image's ESP", () =>
      extractEsp(context, work, session),
    );
    const newRoot = await step(session, 'mount-new-root', `Mounting the new root of ${target}`, () =>
      mountNewRoot(
        config,
        { deviceOf: (id) => deviceOf(context, id) },
        imageFilesystemTypes,
        session.signal,
        session.log,
      ),
    );
    try {
      const layout = {
        partitionUuids: context.partitionUuids,
        imageFilesystemTypes,
        adoptedFilesystemTypes: adoptedFilesystemTypes(config, newRoot),
        targetVolume: target,
      };
      // Images the running OS has are copied from it; the recorded spec gets their new-root paths.
      const running = (store.current().spec as { os?: ExtensionLists } | undefined)?.os;
      const os = await configureOs(newRoot, config, layout, 'ab-update', context.boot, session, {
        extensionSource: plan.request.source,
        runningExtensions: running,
        onExtensionsPlaced: (placed) => {
          spec = withExtensionPaths(spec, placed);
        },
      });
      const uuidOf = (id: string): string => {
        const member = memberOn(config, id, target);
        const uuid = context.partitionUuids[member];
        if (uuid === undefined)
          throw new EngineError(
            'SERVICING_ERROR',
            'datastore',
            `the Host Status records no PARTUUID path for '${member}' (partitionPaths): the boot configuration cannot name it`,
            { code: 'ENGINE_UPDATE_PARTUUID_UNKNOWN' },
          );
        return uuid;
      };
      if (context.boot === 'grub') {
        const dir = grubVolumeDir(context.installIndex, target);
        await step(
          session,
          'update-grub-configs',
          `Configuring grub for ${target} (its grub.cfg, ESP directory EFI/${dir})`,
          () =>
            withImageEsp(espFile, join(work, 'esp'), async (image) =>
              stageGrubVolume({
                newRoot: newRoot.path,
                target: bootTarget(config, uuidOf, context.reader!.metadata),
                image,
                esp: await openHostEsp(context.espDevice!, plan.request.system?.procDir),
                dir,
                installVolumeDir:
                  context.volumes!.active === 'volume-a'
                    ? grubVolumeDir(context.installIndex, 'volume-a')
                    : undefined,
                bootDevice: deviceOf(context, bootFilesystem(config).id),
                signal: session.signal,
                log: (message) => session.log('info', message),
              }),
            ),
        );
      } else if (context.boot === 'uki') {
        await step(
          session,
          'update-uki',
          `Staging the ${target} UKI on the ESP (EFI/Linux/vmlinuz-0.efi.staged, ${volumeUkiPattern(context.installIndex, target)} at finalize)`,
          () =>
            withImageEsp(espFile, join(work, 'esp'), async (image) =>
              stageUkiVolume({
                image,
                esp: await openHostEsp(context.espDevice!, plan.request.system?.procDir),
                installIndex: context.installIndex,
                volume: target,
                target: bootTarget(config, uuidOf, context.reader!.metadata),
                efivarsDir: efivarsDirOf(plan.request.system?.sysDir ?? '/sys'),
                log: (message) => session.log('info', message),
              }),
            ),
        );
      } else {
        const token = volumeToken(context.installIndex, target);
        await step(
          session,
          'update-boot-entry',
          `Writing the ${target} boot entry (${token}) on the ESP`,
          () =>
            withImageEsp(espFile, join(work, 'esp'), async (image) => {
              const entry = await writeVolumeEntry({
                image,
                esp: await openHostEsp(context.espDevice!, plan.request.system?.procDir),
                token,
                target: bootTarget(config, uuidOf, context.reader!.metadata),
              });
              session.log('info', `Boot entry ${entry.id}: ${entry.cmdline}`);
            }),
        );
      }
      await os.relabel();
    } finally {
      await newRoot.release();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  store.apply({ type: 'ab-update-staged', spec });
  session.log('info', `A/B update staged on ${target}`);
  return bytes;
}

async function finalize(
  plan: UpdatePlan,
  context: UpdateContext,
  store: Datastore,
  session: RunSession,
): Promise<void> {
  const target = context.volumes!.target;
  const esp = await openHostEsp(context.espDevice!, plan.request.system?.procDir);
  const token = volumeToken(context.installIndex, target);
  const dir = grubVolumeDir(context.installIndex, target);
  const sysDir = plan.request.system?.sysDir ?? '/sys';
  // A finalize-only run has no image: what stage left on the ESP says which way it boots.
  const uki =
    context.boot === 'uki' ||
    (context.boot === undefined && (await hasVolumeUki(esp, context.installIndex, target)));
  if (uki) {
    await finalizeUkiVolume({
      esp,
      installIndex: context.installIndex,
      volume: target,
      efivarsDir: efivarsDirOf(sysDir),
      store,
      session,
    });
    await refreshFallbackAtFinalize(context, esp, session);
    return;
  }
  const grub =
    context.boot === 'grub' ||
    (context.boot === undefined &&
      (await findVolumeEntry(esp, token)) === undefined &&
      (await hasGrubVolumeDir(esp, dir)));
  if (grub) {
    await step(session, 'create-boot-entry', `Checking the ${target} ESP directory EFI/${dir}`, () =>
      checkGrubFinalize({ esp, dir, sysDir }),
    );
    if (store.current().servicingState === 'ab-update-staged') store.apply({ type: 'ab-update-finalized' });
    const created = await step(
      session,
      'set-boot-entries',
      `Creating the UEFI boot entry ${dir} (/EFI/${dir}/bootx64.efi), BootNext: one trial boot of ${target}`,
      () =>
        finalizeGrubVolume({
          esp,
          espId: context.espId!,
          espPath: context.espDevice!,
          dir,
          sysDir,
          virtdeployWorkaround: context.config.internalParams.virtdeployBootOrderWorkaround === true,
          signal: session.signal,
        }),
    );
    await refreshFallbackAtFinalize(context, esp, session);
    session.log(
      'info',
      `A/B update finalized: UEFI entry ${dir} is Boot${created.join(', Boot')} and BootNext; trident commit at boot puts it first in BootOrder`,
    );
    return;
  }
  const entry = await step(
    session,
    'create-boot-entry',
    `Finding the ${target} boot entry (${token})`,
    async () => {
      const found = await findVolumeEntry(esp, token);
      if (found === undefined)
        throw new EngineError(
          'SERVICING_ERROR',
          'create-boot-entry',
          `no systemd-boot entry for ${target} (loader/entries/${token}-*.conf) on the ESP: stage the update again`,
          { code: 'ENGINE_UPDATE_NO_ENTRY' },
        );
      return found;
    },
  );
  if (store.current().servicingState === 'ab-update-staged') store.apply({ type: 'ab-update-finalized' });
  await step(
    session,
    'set-efi-variable',
    `Setting LoaderEntryOneShot to ${entry} (one trial boot of ${target})`,
    () =>
      setLoaderEntryOneShot(entry, {
        efivarsDir: efivarsDirOf(sysDir),
      }),
  );
  await refreshFallbackAtFinalize(context, esp, session);
  session.log(
    'info',
    `A/B update finalized: the next boot tries ${target}; trident commit at boot makes it the default`,
  );
}

/** `EFI/BOOT` per `os.uefiFallback`: conservative keeps the running volume, optimistic takes the new one. */
async function refreshFallbackAtFinalize(
  context: UpdateContext,
  esp: EspVolume,
  session: RunSession,
): Promise<void> {
  await refreshUefiFallback(esp, {
    config: context.config,
    moment: 'ab-update-finalize',
    installIndex: context.installIndex,
    runningVolume: context.volumes!.active,
    log: session.log,
  });
}

/**
 * A runtime update (sysexts, confexts, netplan; servicing/runtime-update/): stage into the live
 * staging directory, finalize on the running OS. No reboot. A finalize failure that its
 * auto-rollback repaired is a failed run (recorded as lastError, the host on the old spec).
 */
async function runtime(
  plan: UpdatePlan,
  context: UpdateContext,
  store: Datastore,
  session: RunSession,
  started: number,
): Promise<RunResult> {
  const options = {
    source: plan.request.source,
    signal: session.signal,
    log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => session.log(level, message),
  };
  const outcome = await store.recordOutcome(
    async (s) => {
      if (context.mode === 'runtime') {
        if (context.state === 'ab-update-staged' || context.state === 'runtime-update-staged') {
          session.log('info', `Abandoning the update staged earlier (${context.state})`);
          s.apply({ type: 'staged-update-abandoned' });
        }
        for (const line of await stageRuntimeUpdate(s, context.spec, context.config, options))
          session.log('info', `Staged ${line}`);
        if (!context.allowed.finalize) {
          session.log('info', 'Runtime update staged; finalize it with --allowed-operations finalize');
          return undefined;
        }
      }
      return finalizeRuntimeUpdate(s, options);
    },
    (error) => toTridentError(error),
  );
  if (outcome?.result === 'rolled-back') return failedRun(outcome.error, session);
  if (outcome?.result === 'updated') {
    for (const path of outcome.placed) session.log('info', `Placed ${path}`);
    for (const path of outcome.removed) session.log('info', `Removed ${path}`);
    for (const action of outcome.actions) session.log('info', `Ran ${action}`);
    session.log('info', 'Runtime update finalized: the host is provisioned with the new configuration');
  }
  return {
    status: 'success',
    servicingKind: 'runtime-update',
    rebootRequired: false,
    stats: { elapsed: (performance.now() - started) / 1000, bytesWritten: 0, compressedBytes: 0 },
  };
}

export async function runUpdate(
  plan: UpdatePlan,
  context: UpdateContext,
  session: RunSession,
): Promise<RunResult> {
  const started = performance.now();
  const imageHash = plan.source.metadataSha384 ? { imageHash: `sha384:${plan.source.metadataSha384}` } : {};
  if (context.mode === 'nothing') {
    // The engine already logged the plan's warnings (why there is nothing to do).
    return { status: 'success', ...imageHash, rebootRequired: false };
  }
  let store: Datastore;
  try {
    store = openDatastore(context.datastorePath);
  } catch (error) {
    return failedRun(
      new EngineError(
        'INVALID_INPUT_ERROR',
        'host-not-provisioned',
        `cannot open the datastore ${context.datastorePath}`,
        {
          cause: error,
        },
      ),
      session,
    );
  }
  if (context.mode === 'runtime' || context.mode === 'runtime-finalize-only') {
    try {
      return await runtime(plan, context, store, session, started);
    } catch (error) {
      return failedRun(error, session);
    } finally {
      store.close();
    }
  }
  try {
    let compressedBytes = 0;
    await store.recordOutcome(
      async (s) => {
        if (context.mode === 'stage') compressedBytes = await stage(plan, context, s, session);
        if (context.allowed.finalize) await finalize(plan, context, s, session);
      },
      (error) => toTridentError(error),
    );
    return {
      status: 'success',
      ...imageHash,
      servicingKind: 'ab-update',
      rebootRequired: context.allowed.finalize,
      stats: {
        elapsed: (performance.now() - started) / 1000,
        bytesWritten: plan.images.reduce((sum, image) => sum + image.uncompressedSize, 0),
        compressedBytes,
      },
    };
  } catch (error) {
    return failedRun(error, session);
  } finally {
    store.close();
  }
}
