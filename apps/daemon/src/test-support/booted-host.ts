/**
 * Host Statuses whose volume A (or B) is this machine's real root device, so commit's booted-root
 * test, health checks and transitions run for real in daemon tests (CommitService, CheckRoot,
 * RollbackService), over datastore files written through `@trident/datastore`.
 */
import { execFileSync } from 'node:child_process';
import { type HostStatus, openDatastore, type ServicingEvent } from '@trident/datastore';

/** The block device at `/` on this machine (what commit compares the recorded volume with). */
export const ROOT = execFileSync('findmnt', ['-no', 'SOURCE', '/'], { encoding: 'utf8' }).trim();
export const SHA = 'ab'.repeat(48);

/** An A/B host: ESP, root-a/root-b, the datastore on its own partition; optional health checks. */
export function bootedSpec(checks?: unknown[], hostname = 'edge'): Record<string, unknown> {
  return {
    image: { url: 'file:///srv/os.cosi', sha384: SHA },
    storage: {
      disks: [
        {
          id: 'os',
          device: '/dev/sda',
          partitionTableType: 'gpt',
          partitions: [
            { id: 'esp', type: 'esp', size: '100M' },
            { id: 'root-a', type: 'root', size: '1G' },
            { id: 'root-b', type: 'root', size: '1G' },
            { id: 'trident', type: 'linux-generic', size: '100M' },
          ],
        },
      ],
      abUpdate: { volumePairs: [{ id: 'root', volumeAId: 'root-a', volumeBId: 'root-b' }] },
      filesystems: [
        { deviceId: 'esp', mountPoint: { path: '/boot/efi', options: 'umask=0077' } },
        { deviceId: 'root', mountPoint: '/' },
        { deviceId: 'trident', source: 'new', type: 'ext4', mountPoint: '/var/lib/trident' },
      ],
    },
    os: { hostname },
    ...(checks ? { health: { checks } } : {}),
  };
}

/** Volume A (or B) is this machine's root; the other volume is a device that is not. */
export function bootedPaths(booted: 'root-a' | 'root-b' | 'none'): Record<string, string> {
  return {
    esp: '/dev/null',
    'root-a': booted === 'root-a' ? ROOT : '/dev/zero',
    'root-b': booted === 'root-b' ? ROOT : '/dev/zero',
  };
}

/** A finalized clean install whose volume A is `booted`. */
export function installedOn(booted: 'root-a' | 'root-b' | 'none', checks?: unknown[]): ServicingEvent[] {
  return [
    {
      type: 'clean-install-staged',
      spec: bootedSpec(checks),
      partitionPaths: bootedPaths(booted),
      installIndex: 0,
    },
    { type: 'clean-install-finalized' },
  ];
}

export function recordEvents(path: string, events: ServicingEvent[]): void {
  const store = openDatastore(path, { create: true });
  try {
    for (const event of events) store.apply(event);
  } finally {
    store.close();
  }
}

export function currentStatus(path: string): HostStatus {
  const store = openDatastore(path, { readOnly: true });
  try {
    return store.current();
  } finally {
    store.close();
  }
}
