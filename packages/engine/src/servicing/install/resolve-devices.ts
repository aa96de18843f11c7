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
