import { rereadPartitionTable, writeGpt } from '@trident/block-writer';
import { wrapStep } from '../../errors.ts';
import { removeJournal } from './journal.ts';
import type { Log } from './run-session.ts';
import type { OpenedTarget, TargetLayout } from './targets.ts';

/**
 * The step every kind ends its writes with, and the safety argument of the whole run: only after
 * every image verified, each target's GPT is written (headers for its real size) and its resume
 * journal dropped. Then the targets are closed (our exclusive open would make the kernel's re-read
 * and e2fsck refuse them; file targets stay locked until the run is over) and the kernel re-reads
 * each disk's table, checked against what was written.
 */
export async function writeTablesLast(
  opened: readonly OpenedTarget[],
  layouts: readonly TargetLayout[],
  signal: AbortSignal,
  log: Log,
): Promise<void> {
  const written: Array<Awaited<ReturnType<typeof writeGpt>>> = [];
  for (const [index, entry] of opened.entries()) {
    signal.throwIfAborted();
    const layout = layouts[index]!;
    try {
      written.push(await writeGpt(entry.target, layout.gptRegion, { lbaSize: layout.lbaSize }));
    } catch (error) {
      throw wrapStep(
        'SERVICING_ERROR',
        'create-partitions',
        `Failed to write the GPT on ${entry.target.path}`,
        error,
      );
    }
    log(
      'info',
      `Wrote the GPT on ${entry.target.path} (${layout.partitionCount} partitions) after every image verified`,
    );
    await removeJournal(entry.journalFile);
  }
  for (const entry of opened) await entry.target.close({ keepLock: true });
  for (const [index, entry] of opened.entries()) {
    if (entry.planned.kind !== 'disk') continue;
    try {
      await rereadPartitionTable(entry.planned.path, {
        expected: written[index]!.partitions,
        signal,
      });
    } catch (error) {
      throw wrapStep(
        'SERVICING_ERROR',
        'create-partitions',
        `Failed to make the kernel re-read the partition table of ${entry.planned.path}`,
        error,
      );
    }
  }
}
