/**
 * Before install opens its disks: what an earlier install (or the servicing OS) left stacked on
 * them is taken down, as upstream does before repartitioning (`engine/storage/mod.rs`): open
 * LUKS mappings on the disks are closed, then RAID arrays built only from the disks are unmounted
 * and stopped. An array that also uses a disk outside the configuration is not ours to stop: that
 * is an error, as upstream's (`cleanup-raid`).
 *
 * Unlike upstream, which closes every crypt device of the system, only mappings on the disks being
 * installed are closed: the servicing OS may run from an encrypted volume of its own.
 */
import { runTool } from '@trident/exec';
import { EngineError } from '../../../errors.ts';
import type { Log } from '../../phases/run-session.ts';
import { blockAttribute, blockDevicesNamed, disksUnder, kernelName } from './block-nodes.ts';

export async function releaseHeldDevices(diskPaths: readonly string[], log: Log): Promise<void> {
  if (diskPaths.length === 0) return;
  const disks = new Set<string>();
  for (const path of diskPaths) disks.add(await kernelName(path).catch(() => path));
  await closeMappings(disks, log);
  await stopArrays(disks, log);
}

async function closeMappings(disks: ReadonlySet<string>, log: Log): Promise<void> {
  for (const dm of await blockDevicesNamed('dm-')) {
    if (!(await blockAttribute(dm, 'dm/uuid'))?.startsWith('CRYPT-')) continue;
    const under = await disksUnder(dm);
    if (![...under].some((d) => disks.has(d))) continue;
    const name = (await blockAttribute(dm, 'dm/name')) ?? dm;
    await unmountAll(`/dev/mapper/${name}`, 'cleanup-encryption');
    const closed = await runTool('cryptsetup', ['close', name], { okCodes: 'any' });
    if (closed.exitCode !== 0)
      throw new EngineError(
        'SERVICING_ERROR',
        'cleanup-encryption',
        `cannot close the encrypted volume '${name}' left on ${[...under].join(', ')}: ${closed.stderr.trim() || `exit ${closed.exitCode}`}`,
      );
    log('info', `Closed the pre-existing encrypted volume '${name}' on ${[...under].join(', ')}`);
  }
}

async function stopArrays(disks: ReadonlySet<string>, log: Log): Promise<void> {
  for (const md of await blockDevicesNamed('md')) {
    if (!/^md\d+$/u.test(md)) continue; // md127, not md127p1
    const under = [...(await disksUnder(md))];
    const ours = under.filter((d) => disks.has(d));
    if (ours.length === 0 || under.length === 0 || under[0] === md) continue;
    if (ours.length !== under.length)
      throw new EngineError(
        'SERVICING_ERROR',
        'cleanup-raid',
        `RAID array /dev/${md} uses ${ours.join(', ')}, which this install repartitions, and also ${under.filter((d) => !disks.has(d)).join(', ')}, which it does not; stop the array yourself (mdadm --stop /dev/${md}) if it can go`,
      );
    await unmountAll(`/dev/${md}`, 'cleanup-raid');
    const stopped = await runTool('mdadm', ['--stop', `/dev/${md}`], { okCodes: 'any' });
    if (stopped.exitCode !== 0)
      throw new EngineError(
        'SERVICING_ERROR',
        'cleanup-raid',
        `cannot stop the RAID array /dev/${md} on ${under.join(', ')}: ${stopped.stderr.trim() || `exit ${stopped.exitCode}`}`,
      );
    log('info', `Stopped the pre-existing RAID array /dev/${md} on ${under.join(', ')}`);
  }
}

/** Unmounts every mount of `device` (deepest first). */
async function unmountAll(device: string, subkind: string): Promise<void> {
  const { stdout } = await runTool('findmnt', ['-rn', '-S', device, '-o', 'TARGET'], { okCodes: 'any' });
  const targets = stdout
    .split('\n')
    .filter(Boolean)
    .sort((a, b) => b.length - a.length);
  for (const target of targets) {
    const result = await runTool('umount', [target], { okCodes: 'any' });
    if (result.exitCode !== 0)
      throw new EngineError(
        'SERVICING_ERROR',
        subkind,
        `cannot unmount ${device} from ${target}: ${result.stderr.trim()}`,
      );
  }
}
