import { expect, it } from 'vitest';
import { ensureOsFixture } from './vm-fixture.ts';
import { kernelCmdline } from './vm-fixture-boot.ts';

const plan = {
  kernelVersion: '6.1.0-57-cloud-amd64',
  baseCmdline: 'console=ttyS0,115200',
  rootPartUuid: '8b9f41da-b9e7-4cbe-8ea8-fe33a790687a',
};

it('finds the root by PARTUUID, or by filesystem UUID for a UKI (its command line cannot follow a new PARTUUID)', () => {
  expect(kernelCmdline(plan)).toBe(
    'root=PARTUUID=8b9f41da-b9e7-4cbe-8ea8-fe33a790687a rw console=ttyS0,115200',
  );
  expect(kernelCmdline({ ...plan, rootFsUuid: '2a2949c7-c55a-46ea-b92d-e5784b9572a8' })).toBe(
    'root=UUID=2a2949c7-c55a-46ea-b92d-e5784b9572a8 rw console=ttyS0,115200',
  );
});

it('refuses a uki fixture with verity, usrVerity or a separate /boot before building anything', async () => {
  for (const extra of [{ verity: true }, { usrVerity: true }, { separateBoot: true }])
    await expect(ensureOsFixture({ bootloader: 'uki', ...extra })).rejects.toThrow(
      /a uki fixture is a plain ext4 root with its UKI on the ESP/u,
    );
});
