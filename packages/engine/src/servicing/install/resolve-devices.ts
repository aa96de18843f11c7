import type { HostConfiguration } from '@trident/host-config';
import { EngineError } from '../../errors.ts';
import type { DiskLayout, LaidOutPartition } from './layout.ts';

export interface PartitionRef {
  targetIndex: number;
  partition: LaidOutPartition;
}

/**
 * Resolves a Host Configuration block-device id to the partition that receives its data on a
 * clean install: a partition is itself, an A/B volume pair is its volume A. Verity devices are
 * resolved by the caller into their data and hash devices.
 */
export function resolvePartition(
  config: HostConfiguration,
  layouts: DiskLayout[],
  id: string,
  seen = new Set<string>(),
): PartitionRef {
  if (seen.has(id))
    throw new EngineError(
      'INVALID_INPUT_ERROR',
      'invalid-host-configuration',
      `device '${id}' refers to itself`,
    );
  seen.add(id);
  for (const [targetIndex, layout] of layouts.entries()) {
    const partition = layout.partitions.find((p) => p.id === id);
    if (partition) return { targetIndex, partition };
  }
  const pair = config.storage.abUpdate?.volumePairs.find((p) => p.id === id);
  if (pair) return resolvePartition(config, layouts, pair.volumeAId, seen);
  throw new EngineError(
    'UNSUPPORTED_CONFIGURATION_ERROR',
    'unsupported-feature',
    `device '${id}' is not a partition or an A/B volume pair; install cannot place data on it`,
    { code: 'ENGINE_UNSUPPORTED_DEVICE' },
  );
}

/**
 * `resolvePartition` for data install writes (an image, a new filesystem, swap): an adopted
 * partition is refused, since install never writes into one. Host Configuration validation
 * already allows only adopted filesystems and the ESP on them; the ESP image would replace the
 * adopted partition's contents (upstream copies its files into the existing ESP instead, which
 * this install does not do).
 */
export function writablePartition(
  config: HostConfiguration,
  layouts: DiskLayout[],
  id: string,
  what: string,
): PartitionRef {
  const ref = resolvePartition(config, layouts, id);
  if (ref.partition.adopted)
    throw new EngineError(
      'UNSUPPORTED_CONFIGURATION_ERROR',
      'unsupported-feature',
      `${what} would be written into '${id}', an adopted partition; install keeps adopted partitions as they are. Put it on a new partition, or use the adopted filesystem with \`source: adopted\``,
      { code: 'ENGINE_ADOPTED_NOT_WRITABLE' },
    );
  return ref;
}
