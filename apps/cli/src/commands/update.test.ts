import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, '../main.ts');

function trident(...args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const CONFIG = `image:
  url: file:///nowhere/v2.cosi
  sha384: ignored
storage:
  disks:
    - id: os
      device: /dev/sda
      partitionTableType: gpt
      partitions:
        - { id: esp, type: esp, size: 100M }
        - { id: root-a, type: root, size: 1G }
        - { id: root-b, type: root, size: 1G }
        - { id: trident, size: 100M }
  abUpdate:
    volumePairs:
      - { id: root, volumeAId: root-a, volumeBId: root-b }
  filesystems:
    - { deviceId: esp, mountPoint: /boot/efi }
    - { deviceId: root, mountPoint: / }
    - { deviceId: trident, source: new, mountPoint: /var/lib/trident }
`;

let dir: string;
let config: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-update-'));
  config = join(dir, 'update.yaml');
  writeFileSync(config, CONFIG);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trident update', () => {
  it('refuses an unknown allowed operation as a bad command line, naming it', () => {
    const run = trident(
      'update',
      config,
      '--allowed-operations',
      'stage,reboot',
      '--datastore',
      join(dir, 'd.sqlite'),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown allowed operation 'reboot'");
  });

  it('a host without a datastore is not provisioned: exit 1 with upstream subkind', () => {
    const run = trident('update', config, '--datastore', join(dir, 'missing.sqlite'), '--dry-run');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('INVALID_INPUT_ERROR:host-not-provisioned');
  });

  it('--disk does not apply to an update', () => {
    const run = trident('update', config, '--disk', 'os=/dev/sdb');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--disk and --target-image do not apply');
  });
});
