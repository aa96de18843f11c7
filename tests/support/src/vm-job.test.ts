import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  cleanSerial,
  parseBootMarkers,
  parseJobOutputs,
  readResultsDisk,
  writeJobDisk,
  writeResultsDisk,
} from './vm-job.ts';

const SERIAL = [
  '\u001b[01;01HBdsDxe: starting Boot0002 "UEFI Misc Device"\r',
  '[    3.1] random kernel line\r',
  'TRIDENT-BOOT-OK 12.1 host-a /dev/mapper/root\r',
  'TRIDENT-BOOT-FACTS root-bytes=1547051008 loader-entry=trident-fixture.conf cmdline=root=/dev/mapper/root,ro\r',
  'TRIDENT-JOB-BEGIN first\r',
  'line one\r',
  'line two\r',
  'TRIDENT-JOB-END first rc=3\r',
  '',
].join('\n');

it('parses boot markers with their facts and jobs with exit codes from raw serial text', () => {
  expect(cleanSerial(SERIAL)).not.toContain('\r');
  expect(cleanSerial(SERIAL)).not.toContain('\u001b');
  expect(parseBootMarkers(SERIAL)).toEqual([
    {
      versionId: '12.1',
      hostname: 'host-a',
      rootDevice: '/dev/mapper/root',
      facts: {
        'root-bytes': '1547051008',
        'loader-entry': 'trident-fixture.conf',
        cmdline: 'root=/dev/mapper/root,ro',
      },
    },
  ]);
  expect(parseJobOutputs(SERIAL)).toEqual([{ id: 'first', rc: 3, output: 'line one\nline two\n' }]);
  expect(parseJobOutputs('TRIDENT-JOB-BEGIN x\nno end yet\n')).toEqual([]);
});

it('finds the facts of a boot after console lines that came in between, and never in the next boot', () => {
  const serial = [
    'TRIDENT-BOOT-OK 1 host-a /dev/vda2',
    '[   51.9] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:',
    '[   51.9] rcu: All QSes seen, last rcu_preempt kthread activity 84037',
    '[   51.9] rcu: rcu_preempt kthread starved for 84037 jiffies!',
    '[   52.0] watchdog: BUG: soft lockup - CPU#0 stuck for 35s! [systemd:1]',
    'TRIDENT-BOOT-FACTS loader-entry=a.efi',
    'TRIDENT-BOOT-OK 2 host-a /dev/vda3',
    'TRIDENT-BOOT-OK 3 host-a /dev/vda2',
    'TRIDENT-BOOT-FACTS loader-entry=c.efi',
  ].join('\n');
  expect(parseBootMarkers(serial).map((m) => m.facts['loader-entry'])).toEqual(['a.efi', undefined, 'c.efi']);
});

it('writes a job disk as a tar and reads files back from a results disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trident-vmjob-'));
  try {
    const job = await writeJobDisk(
      { id: 'j1', script: 'echo hi', files: { 'cfg/host.yaml': 'a: 1\n' }, after: 'none' },
      join(dir, 'job.tar'),
    );
    // The results disk is read the way the guest writes it: a tar at the start of a blank disk.
    const results = await writeResultsDisk(join(dir, 'results.img'), 1);
    expect(await readResultsDisk(results)).toEqual(new Map());
    const { execFileSync } = await import('node:child_process');
    execFileSync('dd', [`if=${job}`, `of=${results}`, 'conv=notrunc', 'status=none']);
    const files = await readResultsDisk(results);
    expect(files.get('job.sh')?.toString()).toBe('echo hi');
    expect(files.get('id')?.toString()).toBe('j1');
    expect(files.get('after')?.toString()).toBe('none');
    expect(files.get('cfg/host.yaml')?.toString()).toBe('a: 1\n');
    await expect(writeJobDisk({ script: '', files: { '../x': '' } }, join(dir, 'bad.tar'))).rejects.toThrow(
      /relative path inside the job/u,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
