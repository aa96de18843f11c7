import { prepareHost } from '../host/configure-os.ts';
import type { ServicingKind } from '../kind.ts';
import { deploy } from '../phases/deploy.ts';
import { failedRun } from '../phases/run-session.ts';
import { configureHost } from './host/configure-host.ts';
import { makeFilesystem } from './make-filesystems.ts';
import { type InstallContext, planInstall } from './plan-install.ts';
import type { InstallRequest } from './request.ts';
import { runFinalize } from './run-finalize.ts';
import { releaseHeldDevices } from './storage/held-devices.ts';

/**
 * install: a clean install of a host from its Host Configuration, in upstream's order: script
 * paths checked and preServicing scripts run before any disk is touched; then the shared
 * deployment with one table per configured disk and one step of its own between the verified
 * images and the tables (the new filesystems and swap areas, made inside their partitions' byte
 * ranges); then, on the complete disks, the host itself: OS configuration in the new root, boot
 * configuration, the datastore, UEFI boot entries (`host/`). `allowedOperations` splits it as upstream
 * does: stage ends with `clean-install-staged` in the servicing OS's datastore; finalize reads it
 * and writes the installed OS's datastore and the boot entry (`run-finalize.ts`).
 * RAID arrays and LUKS2 volumes are built once the tables exist and the images for them streamed
 * onto them (`storage/`); what an earlier install left stacked on the disks is taken down before
 * they are opened.
 */
export const install: ServicingKind<InstallRequest, InstallContext> = {
  kind: 'install',
  logTarget: 'trident::engine::install',
  plan: planInstall,
  run: async (plan, context, session) => {
    if (context.phase === 'finalize') return runFinalize(plan, context, session);
    try {
      await prepareHost(context.config, 'clean-install', session);
      await releaseHeldDevices(
        plan.targets.filter((t) => t.kind === 'disk').map((t) => t.path),
        session.log,
      );
    } catch (error) {
      return failedRun(error, session);
    }
    const result = await deploy(
      plan,
      {
        reader: context.reader,
        layouts: context.layouts.map((layout, index) => ({
          gptRegion: layout.gptRegion,
          // Laid out for the target's own sector size, which the target must still have.
          lbaSize: plan.targets[index]!.sectorSize,
          partitionCount: layout.partitions.length,
          ...(layout.kept === undefined ? {} : { kept: layout.kept }),
        })),
        protect: context.protect,
        beforeTables: async (opened) => {
          for (const fs of plan.newFilesystems) {
            session.signal.throwIfAborted();
            session.log('info', `Creating ${fs.fsType} on '${fs.id}'`);
            await makeFilesystem(opened[fs.targetIndex]!.target, fs);
          }
        },
        afterTables: () =>
          configureHost(
            {
              plan,
              config: context.config,
              spec: context.spec,
              layouts: context.layouts,
              metadata: context.reader?.metadata,
              reader: context.reader,
              stackedImages: context.stackedImages,
              stackedFilesystems: context.stackedFilesystems,
              stageOnlyDatastore: context.stageOnlyDatastore,
            },
            session,
          ),
      },
      session,
    );
    // A staged install boots nothing new until it is finalized (upstream: stage-only exits Done).
    return context.stageOnlyDatastore === undefined ? result : { ...result, rebootRequired: false };
  },
  discard: async (context) => {
    if (context.phase === 'stage') await context.reader?.close();
  },
};
