import type { ServicingKind } from '../kind.ts';
import { deploy } from '../phases/deploy.ts';
import { makeFilesystem } from './make-filesystems.ts';
import { type InstallContext, planInstall } from './plan-install.ts';
import type { InstallRequest } from './request.ts';

/**
 * install: a clean install of the storage a Host Configuration describes. The run is the shared
 * deployment with one table per configured disk, and one step of its own between the verified
 * images and the tables: the new filesystems and swap areas, made inside their partitions' byte
 * ranges.
 */
export const install: ServicingKind<InstallRequest, InstallContext> = {
  kind: 'install',
  logTarget: 'trident::engine::install',
  plan: planInstall,
  run: (plan, context, session) =>
    deploy(
      plan,
      {
        reader: context.reader,
        layouts: context.layouts.map((layout, index) => ({
          gptRegion: layout.gptRegion,
          // Laid out for the target's own sector size, which the target must still have.
          lbaSize: plan.targets[index]!.sectorSize,
          partitionCount: layout.partitions.length,
        })),
        protect: context.protect,
        beforeTables: async (opened) => {
          for (const fs of plan.newFilesystems) {
            session.signal.throwIfAborted();
            session.log('info', `Creating ${fs.fsType} on '${fs.id}'`);
            await makeFilesystem(opened[fs.targetIndex]!.target, fs);
          }
        },
      },
      session,
    ),
  discard: async (context) => {
    await context.reader?.close();
  },
};
