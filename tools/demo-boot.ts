// `pnpm demo:boot`: proves the main job ends in a host that comes up. Builds (or reuses) the
// bootable fixture OS (Debian bookworm, systemd-boot) and its COSI, serves the COSI from a local
// nginx, runs `trident stream-disk` into demo/boot-disk.img, boots that file under QEMU/OVMF with
// no network, and prints the serial console's last lines. The first run downloads Debian packages
// for the fixture (mmdebstrap, about a minute); later runs reuse the cache.
import { spawnSync } from 'node:child_process';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startNginx } from '@trident/test-support/nginx';
import { createVmScope } from '@trident/test-support/vm';
import { ensureOsFixture } from '@trident/test-support/vm-fixture';
import { buildRootfs, rootfsStatus } from '@trident/test-support/vm-fixture-rootfs';
import { vmSupport } from '@trident/test-support/vm-host';

const root = resolve(import.meta.dirname, '..');
const demo = join(root, 'demo');
const cli = join(root, 'apps/cli/src/main.ts');
const step = (title: string) => console.log(`\n== ${title}`);

const support = vmSupport();
if (!support.available) {
  console.error(`demo:boot needs QEMU and OVMF: ${support.reason}. Run bash tools/setup.sh.`);
  process.exit(3);
}
if (process.getuid?.() !== 0) {
  console.error('demo:boot builds a bootable OS image (chroot, file ownership): run it as root.');
  process.exit(3);
}

if (!rootfsStatus('minimal').available) {
  step('building the fixture OS root filesystem (mmdebstrap from the Debian mirror; once)');
  await buildRootfs('minimal', { log: (line) => /^I: /u.test(line) && console.log(`  ${line}`) });
}
step('assembling the fixture OS disk (ESP + ext4 root, systemd-boot) and its COSI (cached)');
const fixture = await ensureOsFixture({ hostname: 'demo-boot' });
console.log(
  `  ${fixture.disk}\n  ${fixture.cosi}\n  kernel ${fixture.kernelVersion}, cmdline: ${fixture.cmdline}`,
);

await mkdir(join(demo, 'www'), { recursive: true });
await rm(join(demo, 'www', 'os.cosi'), { force: true });
await symlink(fixture.cosi, join(demo, 'www', 'os.cosi'));
const nginx = await startNginx({ root: join(demo, 'www') });
const target = join(demo, 'boot-disk.img');
try {
  const url = `${nginx.url}/os.cosi`;
  step(`trident stream-disk ${url} --target-image demo/boot-disk.img --target-size 3G`);
  await rm(target, { force: true });
  const streamed = spawnSync(
    process.execPath,
    [
      '--conditions=@trident/source',
      cli,
      'stream-disk',
      url,
      '--hash',
      `sha384:${fixture.cosiSha384}`,
      '--target-image',
      target,
      '--target-size',
      '3G',
    ],
    { stdio: 'inherit' },
  );
  if (streamed.status !== 0) throw new Error(`trident stream-disk exited with ${streamed.status}`);
} finally {
  await nginx.stop();
}

step('booting demo/boot-disk.img under QEMU (q35, OVMF, virtio, no network)');
const vms = createVmScope();
const started = Date.now();
try {
  const vm = await vms.start({
    name: 'demo-boot',
    disks: [{ path: target }],
    job: {
      id: 'demo',
      script: 'df -h /; lsblk -o NAME,SIZE,FSTYPE,MOUNTPOINT /dev/vda; grep PRETTY_NAME /etc/os-release',
    },
  });
  console.log(`  ${vm.accel.reason}`);
  const boot = await vm.waitForBoot();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `  booted in ${seconds} s: VERSION_ID ${boot.versionId}, hostname ${boot.hostname}, root ${boot.rootDevice}`,
  );
  await vm.waitForJob();
  step('serial console (last lines)');
  console.log(vm.tail(25));
} finally {
  await vms.cleanup();
}
console.log('\ndemo/boot-disk.img was written by trident stream-disk and booted to the marker unit.');
