import type { Gpt, GptPartition } from '@trident/cosi-format';
import type { Disk } from '@trident/host-config';
import { EngineError } from '../../errors.ts';

/**
 * Which existing partitions a disk's `adoptedPartitions` name, with upstream's matching rules
 * (trident `engine/storage/partitioning/adoption.rs`, facts only): `matchLabel` is the GPT
 * partition *name* (what `lsblk -o PARTLABEL` shows) and must name exactly one partition not
 * already adopted; `matchUuid` is the GPT unique partition GUID (PARTUUID), case-insensitive.
 * Every adopted partition must match; a disk with adopted partitions must have a table with
 * partitions on it. Upstream takes the first of several partitions sharing a GUID; two partitions
 * with one GUID is a damaged table, so this refuses it as it refuses two labels.
 */

/** An adopted partition and the existing GPT entry it matched. */
export interface AdoptedMatch {
  id: string;
  entry: GptPartition;
}

/** The existing table of one configured disk, as read at plan time (undefined: none readable). */
export interface ExistingTable {
  diskId: string;
  /** The target path, for messages. */
  path: string;
  gpt: Gpt | undefined;
}

function adoptionError(code: string, message: string): EngineError {
  return new EngineError('INVALID_INPUT_ERROR', 'invalid-host-configuration', message, { code });
}

function describeEntry(entry: GptPartition): string {
  return `partition ${entry.number} (name '${entry.name}', GUID ${entry.partitionGuid.toLowerCase()})`;
}

/**
 * Matches every adopted partition of `disk` against its existing table. `others` are the other
 * configured disks' tables: a criterion that matches nothing here but something there is reported
 * as naming the wrong disk. Throws before anything is written.
 */
export function matchAdoptedPartitions(
  disk: Disk,
  table: ExistingTable,
  others: readonly ExistingTable[] = [],
): AdoptedMatch[] {
  if (disk.adoptedPartitions.length === 0) return [];
  const where = `disk '${disk.id}' (${table.path})`;
  if (table.gpt === undefined || table.gpt.partitions.length === 0)
    throw adoptionError(
      'ENGINE_ADOPTED_NO_PARTITIONS',
      `${where} has adopted partitions configured (${disk.adoptedPartitions.map((a) => `'${a.id}'`).join(', ')}) but ${table.gpt === undefined ? 'no GPT partition table' : 'no partitions'}: there is nothing to adopt. Remove adoptedPartitions, or point the disk at the device that holds them`,
    );
  const taken = new Set<number>();
  const matches: AdoptedMatch[] = [];
  for (const adopted of disk.adoptedPartitions) {
    const criterion =
      adopted.matchLabel !== undefined
        ? { what: `label '${adopted.matchLabel}'`, test: (p: GptPartition) => p.name === adopted.matchLabel }
        : {
            what: `partition GUID ${adopted.matchUuid?.toLowerCase()}`,
            test: (p: GptPartition) => p.partitionGuid.toLowerCase() === adopted.matchUuid?.toLowerCase(),
          };
    const found = table.gpt.partitions.filter((p) => !taken.has(p.number) && criterion.test(p));
    if (found.length === 0) {
      const elsewhere = others.find((other) => other.gpt?.partitions.some(criterion.test));
      throw adoptionError(
        'ENGINE_ADOPTED_NO_MATCH',
        `adopted partition '${adopted.id}': no partition with ${criterion.what} on ${where}${
          elsewhere === undefined
            ? ''
            : `; one is on disk '${elsewhere.diskId}' (${elsewhere.path}): move the adopted partition to that disk's adoptedPartitions`
        }. Partitions found: ${table.gpt.partitions.map(describeEntry).join(', ')}`,
      );
    }
    if (found.length > 1)
      throw adoptionError(
        'ENGINE_ADOPTED_AMBIGUOUS',
        `adopted partition '${adopted.id}': ${found.length} partitions with ${criterion.what} on ${where} (${found.map(describeEntry).join(', ')}); exactly one must match: rename them, or match by partition GUID`,
      );
    taken.add(found[0]!.number);
    matches.push({ id: adopted.id, entry: found[0]! });
  }
  return matches;
}

/** The existing partitions install removes from a disk it adopts from: every one not adopted. */
export function removedPartitions(table: ExistingTable, matches: readonly AdoptedMatch[]): GptPartition[] {
  const kept = new Set(matches.map((m) => m.entry.number));
  return (table.gpt?.partitions ?? []).filter((p) => !kept.has(p.number));
}
