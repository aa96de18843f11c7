/**
 * Bootable OS fixture disks and their COSIs, assembled from a cached root filesystem
 * (vm-fixture-rootfs.ts) without network: a GPT disk image with a vfat ESP, an ext4 root (or a
 * dm-verity root with its hash partition and a writable /var, or a writable root with /usr on
 * dm-verity), optionally a separate /boot, booting
 * with systemd-boot or grub and finding the root by PARTUUID, or with systemd-boot and a UKI that
 * finds it by filesystem UUID. Parameters make a second "build"
 * differ (os-release VERSION_ID, hostname), and the full flavour gets the agent's .deb installed.
 * Each result is cached under the fixture cache by a hash of all its inputs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { contentKey, fileKeyParts, fixtureCacheDir, withLock } from './vm-cache.ts';
import { assembleOsFixture } from './vm-fixture-assemble.ts';
import { type FixtureFlavour, pruneCache, rootfsKey, rootfsStatus } from './vm-fixture-rootfs.ts';
import type { OsFixture, OsFixtureOptions } from './vm-fixture-types.ts';

export type { FixturePartition, OsFixture, OsFixtureOptions } from './vm-fixture-types.ts';
export { PART_TYPES } from './vm-fixture-types.ts';

function fixtureName(o: Required<Omit<OsFixtureOptions, 'agentDeb' | 'versionId' | 'cmdline'>>): string {
  return [
    o.flavour,
    o.bootloader,
    o.separateBoot ? 'boot' : '',
    o.verity ? 'verity' : '',
    o.usrVerity ? 'usr-verity' : '',
  ]
    .filter(Boolean)
    .join('-');
}

/** What the root needs: the whole OS, or without /usr when /usr has its own partition. */
function defaultRootMiB(options: OsFixtureOptions): number {
  if (options.usrVerity) return options.flavour === 'full' ? 512 : 256;
  return options.flavour === 'full' ? 3072 : 1536;
}

/** Half-built disks of `dir` left by processes that died (a killed test run). */
async function removePartials(dir: string): Promise<void> {
  const parent = dirname(dir);
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const pid = Number(/\.partial-(\d+)$/u.exec(name)?.[1]);
    if (!name.startsWith(basename(dir)) || !(pid > 0)) continue;
    let alive = pid !== process.pid;
    try {
      if (alive) process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) await rm(join(parent, name), { recursive: true, force: true });
  }
}

export type FixtureStatus = { available: true } | { available: false; reason: string };

/** Whether fixture disks of `flavour` can be made here (root, cached root filesystem, tools). */
export function osFixtureStatus(flavour: FixtureFlavour = 'minimal'): FixtureStatus {
  const rootfs = rootfsStatus(flavour);
  if (!rootfs.available) return rootfs;
  for (const tool of ['sgdisk', 'mkfs.vfat', 'mcopy', 'mkfs.ext4', 'veritysetup', 'dpkg']) {
    if (!['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((dir) => existsSync(join(dir, tool))))
      return { available: false, reason: `${tool} is missing (tools/setup.sh installs it)` };
  }
  return { available: true };
}

/**
 * The fixture disk and COSI for `options`, built when not cached. Needs root and the cached root
 * filesystem (`pnpm fixtures`); no network.
 */
export async function ensureOsFixture(options: OsFixtureOptions = {}): Promise<OsFixture> {
  const o = {
    flavour: options.flavour ?? 'minimal',
    bootloader: options.bootloader ?? 'systemd-boot',
    separateBoot: options.separateBoot ?? false,
    verity: options.verity ?? false,
    usrVerity: options.usrVerity ?? false,
    usrMiB: options.usrMiB ?? (options.flavour === 'full' ? 768 : 512),
    hostname: options.hostname ?? 'trident-fixture',
    espMiB: options.espMiB ?? 128,
    rootMiB: options.rootMiB ?? defaultRootMiB(options),
  };
  if (o.verity && o.bootloader === 'grub' && !o.separateBoot)
    throw new Error(
      'a grub fixture with a verity root needs separateBoot: grub.cfg cannot live inside the root it hashes',
    );
  if (o.verity && o.usrVerity)
    throw new Error(
      'a fixture has a verity root or a verity /usr, not both (Trident allows one verity device)',
    );
  if (o.bootloader === 'uki' && (o.verity || o.usrVerity || o.separateBoot))
    throw new Error(
      'a uki fixture is a plain ext4 root with its UKI on the ESP: verity, usrVerity and separateBoot are ' +
        'not built for UKIs (use bootloader systemd-boot for them)',
    );
  if (o.usrVerity && o.bootloader !== 'systemd-boot')
    throw new Error(
      'a fixture with a verity /usr boots with systemd-boot (its grub image is made in the OS tree)',
    );
  if (o.flavour === 'full' && options.agentDeb === undefined)
    throw new Error('the full fixture flavour needs agentDeb (see ensureAgentPackage)');
  const status = osFixtureStatus(o.flavour);
  if (!status.available) throw new Error(status.reason);
  const name = fixtureName(o);
  const key = contentKey([
    'os-fixture-v2',
    JSON.stringify({ ...o, versionId: options.versionId ?? '', cmdline: options.cmdline ?? '' }),
    rootfsKey(o.flavour),
    ...fileKeyParts([
      resolve(import.meta.dirname, 'vm-fixture-assemble.ts'),
      resolve(import.meta.dirname, 'vm-fixture-boot.ts'),
      resolve(import.meta.dirname, 'vm-fixture-etc-overlay.ts'),
      resolve(import.meta.dirname, 'vm-fixture-uki.ts'),
    ]),
    ...(o.flavour === 'full' ? [readFileSync(options.agentDeb!)] : []),
  ]);
  const dir = join(fixtureCacheDir(), 'os', `${name}-${key}`);
  const record = join(dir, 'fixture.json');
  return withLock(`os-${name}-${key}`, async () => {
    if (existsSync(record)) {
      const now = new Date();
      await utimes(dir, now, now); // most recently used: pruning keeps it
      return JSON.parse(await readFile(record, 'utf8')) as OsFixture;
    }
    const partial = `${dir}.partial-${process.pid}`;
    await removePartials(dir);
    await mkdir(partial, { recursive: true });
    try {
      const fixture = await assembleOsFixture({ ...options, ...o }, name, key, partial);
      const final = { ...fixture, disk: join(dir, 'disk.img'), cosi: join(dir, 'os.cosi') };
      await writeFile(join(partial, 'fixture.json'), `${JSON.stringify(final, null, 2)}\n`);
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
      // Several builds of one variant are used at once (two OS versions for an update): keep eight.
      pruneCache(join(fixtureCacheDir(), 'os'), new RegExp(`^${name}-[0-9a-f]{20}$`, 'u'), dir, 8);
      return final;
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      throw error;
    }
  });
}
