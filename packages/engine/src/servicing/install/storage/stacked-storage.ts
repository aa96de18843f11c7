/**
 * The storage install builds once the partition tables exist, in upstream's order (reference
 * servicing.md §1 C.5): RAID arrays from their member partitions, LUKS2 volumes on partitions or
 * arrays, then what goes onto them: images streamed and verified as partition images are (and
 * grown to fill the device), new filesystems and swap areas made. The result names every stacked
 * device for mounting and boot configuration, and takes it all down again at the end of the run
 * (volumes closed, arrays stopped) or after a failure.
 */
import { type BlockTarget, openBlockTarget } from '@trident/block-writer';
import type { CosiReader } from '@trident/cosi-format';
import { runTool } from '@trident/exec';
import type { HostConfiguration } from '@trident/host-config';
import type { Codec } from '@trident/zstd-native';
import { EngineError, wrapStep } from '../../../errors.ts';
import type { PlannedImage } from '../../../types.ts';
import type { RunSession } from '../../phases/run-session.ts';
import { writeImage } from '../../phases/write-image.ts';
import { makeFilesystem } from '../make-filesystems.ts';
import { closeVolumes, type OpenedVolume, openEncryptedVolumes } from './encryption.ts';
import { type CreatedArray, createArrays, stopArrays } from './raid.ts';
import type { StackedFilesystem, StackedImage } from './stacked-devices.ts';

export interface StackedStorage {
  arrays: CreatedArray[];
  volumes: OpenedVolume[];
  /** Node of every array and opened volume on this machine, by Host Configuration id. */
  paths: ReadonlyMap<string, string>;
  /** Closes the volumes, then stops the arrays. Safe to call twice. */
  release(): Promise<void>;
}

export interface StackedInputs {
  config: HostConfiguration;
  reader: CosiReader | undefined;
  images: readonly StackedImage[];
  filesystems: readonly StackedFilesystem[];
  codec: Codec | undefined;
  /** The partition node of a Host Configuration partition id on this machine. */
  partitionPath: (id: string) => string;
}

export async function buildStackedStorage(
  inputs: StackedInputs,
  session: RunSession,
): Promise<StackedStorage> {
  const { config } = inputs;
  const paths = new Map<string, string>();
  let arrays: CreatedArray[] = [];
  let volumes: OpenedVolume[] = [];
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    // udev may still be probing what was just unmounted or written; a busy device refuses to stop.
    await runTool('udevadm', ['settle'], { okCodes: 'any' }).catch(() => undefined);
    let failure: unknown;
    await closeVolumes(volumes, session.log).catch((error: unknown) => {
      failure = error;
    });
    await stopArrays(arrays, session.log).catch((error: unknown) => {
      failure ??= error;
    });
    if (failure !== undefined) throw failure;
  };
  try {
    arrays = await createArrays(config, inputs.partitionPath, session.signal, session.log);
    for (const array of arrays) paths.set(array.id, array.path);
    volumes = await openEncryptedVolumes(
      config,
      (id) => paths.get(id) ?? inputs.partitionPath(id),
      session.signal,
      session.log,
    );
    for (const volume of volumes) paths.set(volume.id, volume.path);
    for (const image of inputs.images) await writeStackedImage(inputs, image, session);
    for (const fs of inputs.filesystems) {
      session.signal.throwIfAborted();
      session.log('info', `Creating ${fs.fsType} on ${fs.device.path} ('${fs.id}')`);
      await withTarget(fs.device.path, 'create-filesystems', (target) =>
        makeFilesystem(target, {
          id: fs.id,
          targetIndex: 0,
          fsType: fs.fsType,
          offset: 0,
          length: target.size,
          mountPoint: fs.mountPoint,
        }),
      );
    }
    await runTool('udevadm', ['settle'], { okCodes: 'any', signal: session.signal });
    return { arrays, volumes, paths, release };
  } catch (error) {
    await release().catch((releaseError: unknown) =>
      session.log('warn', `After the failure, ${(releaseError as Error).message}`),
    );
    throw error;
  }
}

/** Opens a stacked device exclusively for `body`, then closes it. */
async function withTarget(
  path: string,
  subkind: string,
  body: (target: BlockTarget) => Promise<void>,
): Promise<void> {
  let target: BlockTarget;
  try {
    target = await openBlockTarget(path);
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', subkind, `Cannot open ${path}`, error);
  }
  try {
    await body(target);
  } finally {
    await target.close();
  }
}

/** Streams one image onto its array or volume from offset 0, verified, then grows it when planned. */
async function writeStackedImage(
  inputs: StackedInputs,
  image: StackedImage,
  session: RunSession,
): Promise<void> {
  const reader = inputs.reader;
  if (!reader)
    throw new EngineError(
      'INTERNAL_ERROR',
      'internal',
      `an image for '${image.id}' was planned without a COSI`,
    );
  const path = image.device.path;
  session.log('info', `Initializing '${image.id}': writing image ${image.imagePath} to ${path}`);
  await withTarget(path, 'deploy-images', async (target) => {
    if (image.uncompressedSize > target.size)
      throw new EngineError(
        'INVALID_INPUT_ERROR',
        'filesystem-size-exceeds-block-device',
        `the image ${image.imagePath} is ${image.uncompressedSize} bytes but ${path} ('${image.id}') has ${target.size}`,
        { code: 'ENGINE_IMAGE_TOO_LARGE' },
      );
    const planned: PlannedImage = {
      id: image.id,
      targetIndex: 0,
      partitionNumber: 0,
      imagePath: image.imagePath,
      offset: 0,
      length: target.size,
      compressedSize: image.compressedSize,
      uncompressedSize: image.uncompressedSize,
      sha384: image.sha384,
      mountPoint: image.mountPoint,
      fsType: image.fsType,
      grow: image.grow,
    };
    try {
      await writeImage(target, reader, planned, {
        signal: session.signal,
        codec: inputs.codec,
        // A new array or volume is not known to read as zeros: every byte is written.
        sparse: false,
        emit: session.emit,
        reclaimMemory: session.reclaimMemory,
        onBytes: () => undefined,
      });
    } catch (error) {
      throw wrapStep(
        'SERVICING_ERROR',
        'deploy-images',
        `Failed to write image '${image.imagePath}' to ${path}`,
        error,
      );
    }
  });
  if (image.grow) await growExt(path, session);
}

/** e2fsck then resize2fs on the whole device (block-writer's growing works on partitions of disks). */
async function growExt(device: string, session: RunSession): Promise<void> {
  try {
    const check = await runTool('e2fsck', ['-f', '-y', device], { okCodes: [0, 1], signal: session.signal });
    if (check.exitCode === 1) session.log('warn', `${device}: e2fsck corrected errors before growing`);
    await runTool('resize2fs', [device], { signal: session.signal });
  } catch (error) {
    throw wrapStep(
      'SERVICING_ERROR',
      'resize-filesystems',
      `Failed to grow the filesystem on ${device}`,
      error,
    );
  }
  session.log('info', `${device}: filesystem grown to fill the device`);
}
