/**
 * Lays out one fixture OS disk from the cached root filesystem: the OS tree (identity, agent .deb),
 * partitions, fstab, filesystems (mkfs.ext4 -d, mkfs.vfat + mtools; never a host mount: this host
 * has no vfat or device-mapper), dm-verity (of the root or of /usr), boot files, the GPT, then the
 * COSI by our own CLI.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  type BootPlan,
  GRUB_MODULES,
  grubFiles,
  kernelCmdline,
  systemdBootFiles,
  UKI_LOADER_CONF,
} from './vm-fixture-boot.ts';
import { addEtcOverlayModule } from './vm-fixture-etc-overlay.ts';
import { rootfsPath } from './vm-fixture-rootfs.ts';
import {
  type FixturePartition,
  type OsFixture,
  PART_TYPES,
  type ResolvedFixtureOptions,
} from './vm-fixture-types.ts';
import { buildFixtureUki } from './vm-fixture-uki.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** Fixed clock for mkfs, so fixture filesystems repeat byte for byte. */
const EPOCH = 1_700_000_000;
const CLI = resolve(import.meta.dirname, '../../../apps/cli/src/main.ts');

function uuidFor(key: string, role: string): string {
  const h = createHash('sha256').update(`${key}/${role}`).digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function sh(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return run(command, args, { env: { ...process.env, ...env }, maxBuffer: 64 * MiB }).then(
    (r) => r.stdout,
    (error: { stderr?: string; message: string }) => {
      throw new Error(`${command} ${args.join(' ')} failed: ${error.stderr?.trim() || error.message}`);
    },
  );
}

export async function assembleOsFixture(
  o: ResolvedFixtureOptions,
  name: string,
  key: string,
  out: string,
): Promise<OsFixture> {
  const work = join(out, 'work');
  const root = join(work, 'root');
  await mkdir(root, { recursive: true });
  const env = {
    E2FSPROGS_FAKE_TIME: String(EPOCH),
    SOURCE_DATE_EPOCH: String(EPOCH),
    MTOOLS_SKIP_CHECK: '1',
  };
  await sh('tar', [
    '--xattrs',
    '--xattrs-include=*',
    '--numeric-owner',
    '-xpf',
    rootfsPath(o.flavour),
    '-C',
    root,
  ]);

  // --- the OS tree: identity, agent ---
  const osReleasePath = join(root, 'usr/lib/os-release');
  let osRelease = await readFile(osReleasePath, 'utf8');
  if (o.versionId !== undefined)
    osRelease = osRelease.replace(/^VERSION_ID=.*$/mu, `VERSION_ID="${o.versionId}"`);
  osRelease += `IMAGE_ID=trident-fixture-${name}\n`;
  await writeFile(osReleasePath, osRelease);
  const versionId = /^VERSION_ID="?([^"\n]*)"?$/mu.exec(osRelease)?.[1] ?? 'none';
  await writeFile(join(root, 'etc/hostname'), `${o.hostname}\n`);
  await writeFile(join(root, 'etc/hosts'), `127.0.0.1 localhost\n127.0.1.1 ${o.hostname}\n`);
  if (o.flavour === 'full') {
    await copyFile(o.agentDeb!, join(root, 'tmp/trident.deb'));
    await sh('chroot', [root, 'dpkg', '-i', '/tmp/trident.deb']);
    await rm(join(root, 'tmp/trident.deb'));
  }
  const kernelVersion = (await readdir(join(root, 'lib/modules'))).sort().at(-1);
  if (kernelVersion === undefined) throw new Error('the fixture root filesystem has no kernel');
  // A verity root can only be installed with its /etc overlay mounted from the initrd.
  if (o.verity) await addEtcOverlayModule(root, kernelVersion, (command, args) => sh(command, args, env));

  // --- partitions ---
  const ids = {
    disk: uuidFor(key, 'disk'),
    esp: uuidFor(key, 'esp'),
    boot: uuidFor(key, 'boot'),
    root: uuidFor(key, 'root'),
    hash: uuidFor(key, 'root-hash'),
    var: uuidFor(key, 'var'),
    usr: uuidFor(key, 'usr'),
    usrHash: uuidFor(key, 'usr-hash'),
    usrFs: uuidFor(key, 'usr-fs'),
    rootFs: uuidFor(key, 'root-fs'),
    bootFs: uuidFor(key, 'boot-fs'),
    varFs: uuidFor(key, 'var-fs'),
    espVolume: uuidFor(key, 'esp-fs').slice(0, 8).toUpperCase(),
    bootVolume: uuidFor(key, 'boot-vfat').slice(0, 8).toUpperCase(),
  };
  const fatUuid = (volume: string) => `${volume.slice(0, 4)}-${volume.slice(4)}`;
  const bootFsType: 'vfat' | 'ext4' = o.bootloader === 'grub' ? 'ext4' : 'vfat';
  const layout: FixturePartition[] = [];
  let next = MiB;
  const add = (
    role: FixturePartition['role'],
    typeGuid: string,
    partUuid: string,
    mib: number,
    fs?: { fsType: 'vfat' | 'ext4'; fsUuid: string },
  ) => {
    layout.push({
      number: layout.length + 1,
      role,
      typeGuid,
      partUuid,
      offset: next,
      size: mib * MiB,
      ...fs,
    });
    next += mib * MiB;
  };
  add('esp', PART_TYPES.esp, ids.esp, o.espMiB, { fsType: 'vfat', fsUuid: fatUuid(ids.espVolume) });
  if (o.separateBoot)
    add('boot', PART_TYPES.xbootldr, ids.boot, 256, {
      fsType: bootFsType,
      fsUuid: bootFsType === 'vfat' ? fatUuid(ids.bootVolume) : ids.bootFs,
    });
  add('root', PART_TYPES.root, ids.root, o.rootMiB, { fsType: 'ext4', fsUuid: ids.rootFs });
  if (o.verity) {
    add('root-hash', PART_TYPES.rootVerity, ids.hash, hashMiB(o.rootMiB));
    add('var', PART_TYPES.var, ids.var, 512, { fsType: 'ext4', fsUuid: ids.varFs });
  }
  if (o.usrVerity) {
    add('usr', PART_TYPES.usr, ids.usr, o.usrMiB, { fsType: 'ext4', fsUuid: ids.usrFs });
    add('usr-hash', PART_TYPES.usrVerity, ids.usrHash, hashMiB(o.usrMiB));
  }
  const diskSize = next + MiB;

  // --- fstab and the trees of /boot and /var when they are partitions ---
  const fstab = [
    o.verity ? '/dev/mapper/root / ext4 ro 0 0' : `PARTUUID=${ids.root} / ext4 defaults 0 1`,
    `PARTUUID=${ids.esp} /boot/efi vfat umask=0077 0 2`,
  ];
  const bootTree = join(work, 'boot');
  const varTree = join(work, 'var');
  const usrTree = join(work, 'usr');
  if (o.separateBoot) {
    fstab.push(
      `PARTUUID=${ids.boot} /boot ${bootFsType} ${bootFsType === 'vfat' ? 'umask=0077' : 'defaults'} 0 2`,
    );
    await rename(join(root, 'boot'), bootTree);
    await mkdir(join(root, 'boot'));
  }
  if (o.verity) {
    fstab.push(`PARTUUID=${ids.var} /var ext4 defaults 0 2`, 'tmpfs /tmp tmpfs defaults 0 0');
    await rename(join(root, 'var'), varTree);
    await mkdir(join(root, 'var'));
  }
  if (o.usrVerity) {
    // Debian is merged-/usr: /bin, /lib and /sbin stay in the root as symlinks into the empty /usr.
    fstab.push('/dev/mapper/usr /usr ext4 ro 0 0');
    await rename(join(root, 'usr'), usrTree);
    await mkdir(join(root, 'usr'));
  }
  await mkdir(join(root, 'boot/efi'), { recursive: true });
  await writeFile(join(root, 'etc/fstab'), `# trident-ts fixture OS (${name})\n${fstab.join('\n')}\n`);

  // --- filesystems ---
  const mkext4 = async (tree: string, file: string, uuid: string, label: string, mib: number) => {
    await sh(
      'mkfs.ext4',
      [
        '-q',
        '-F',
        '-d',
        tree,
        '-U',
        uuid,
        '-L',
        label,
        '-b',
        '4096',
        '-E',
        `hash_seed=${uuid}`,
        file,
        `${mib}M`,
      ],
      env,
    );
  };
  const plan: BootPlan = {
    kernelVersion,
    // Under TCG on a busy host a guest can be starved for minutes: systemd's 90 s wait for a disk
    // then drops a healthy boot to the emergency shell (seen at load 19), so wait longer.
    baseCmdline: [
      'console=ttyS0,115200',
      'quiet',
      'loglevel=4',
      'systemd.default_device_timeout_sec=600',
      o.cmdline ?? '',
    ]
      .join(' ')
      .trim(),
    rootPartUuid: ids.root,
    // The key covers versionId: each build's UKI names its own root filesystem.
    ...(o.bootloader === 'uki' ? { rootFsUuid: ids.rootFs } : {}),
  };
  const title = `trident-ts fixture ${name} ${versionId}`;
  const espTree = join(work, 'esp');
  const grubEfi = join(work, 'bootx64.efi');
  const writeGrubCfg = async (dir: string) => {
    const files = grubFiles(
      plan,
      title,
      o.separateBoot ? ids.bootFs : ids.rootFs,
      o.separateBoot ? '' : '/boot',
    );
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'grub.cfg'), files.grubCfg);
  };
  if (o.bootloader === 'grub') {
    // The EFI image is made by the OS's own grub-mkimage, with the early configuration built in.
    const files = grubFiles(
      plan,
      title,
      o.separateBoot ? ids.bootFs : ids.rootFs,
      o.separateBoot ? '' : '/boot',
    );
    await writeFile(join(root, 'tmp/early.cfg'), files.early);
    await sh('chroot', [
      ...[root, 'grub-mkimage', '-O', 'x86_64-efi', '-o', '/tmp/bootx64.efi'],
      ...['-c', '/tmp/early.cfg', '-p', '/boot/grub', ...GRUB_MODULES],
    ]);
    await rename(join(root, 'tmp/bootx64.efi'), grubEfi);
    await rm(join(root, 'tmp/early.cfg'));
    await mkdir(join(espTree, 'EFI/BOOT'), { recursive: true });
    await copyFile(grubEfi, join(espTree, 'EFI/BOOT/BOOTX64.EFI'));
    // Without a /boot partition there is no verity root (checked above): the command line is final.
    if (!o.separateBoot) await writeGrubCfg(join(root, 'boot/grub'));
  }
  const rootPart = layout.find((p) => p.role === 'root')!;
  const rootImg = join(work, 'root.img');
  // The fixture disk is what a COSI is built from: fill the partition; `cosi build` shrinks it.
  await mkext4(root, rootImg, ids.rootFs, 'root', rootPart.size / MiB);
  const images = new Map<number, string>([[rootPart.number, rootImg]]);
  let roothash: string | undefined;
  if (o.verity) {
    const hashPart = layout.find((p) => p.role === 'root-hash')!;
    const hashImg = join(work, 'hash.img');
    roothash = await formatVerity(rootImg, hashImg, key);
    plan.verity = { roothash, hashPartUuid: ids.hash };
    images.set(hashPart.number, hashImg);
    const varPart = layout.find((p) => p.role === 'var')!;
    const varImg = join(work, 'var.img');
    await mkext4(varTree, varImg, ids.varFs, 'var', varPart.size / MiB);
    images.set(varPart.number, varImg);
  }

  let usrhash: string | undefined;
  if (o.usrVerity) {
    const usrPart = layout.find((p) => p.role === 'usr')!;
    const usrImg = join(work, 'usr.img');
    // Like a verity root, the /usr filesystem fills its partition: `cosi build` keeps verity data whole.
    await mkext4(usrTree, usrImg, ids.usrFs, 'usr', usrPart.size / MiB);
    const hashImg = join(work, 'usr-hash.img');
    usrhash = await formatVerity(usrImg, hashImg, `${key}/usr`);
    plan.usrVerity = { usrhash, dataPartUuid: ids.usr, hashPartUuid: ids.usrHash };
    images.set(usrPart.number, usrImg);
    images.set(layout.find((p) => p.role === 'usr-hash')!.number, hashImg);
  }

  // --- boot files ---
  const kernelFiles = {
    [`vmlinuz-${kernelVersion}`]: await readFile(
      join(o.separateBoot ? bootTree : join(root, 'boot'), `vmlinuz-${kernelVersion}`),
    ),
    [`initrd.img-${kernelVersion}`]: await readFile(
      join(o.separateBoot ? bootTree : join(root, 'boot'), `initrd.img-${kernelVersion}`),
    ),
  };
  const stage = async (dir: string, files: Record<string, string | Uint8Array>) => {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
  };
  const efiDir = join(o.usrVerity ? usrTree : join(root, 'usr'), 'lib/systemd/boot/efi');
  let uki: string | undefined;
  if (o.bootloader === 'uki') {
    // Separate /boot is refused for `uki` (vm-fixture.ts): the kernel and initrd are in the root.
    uki = `vmlinuz-${kernelVersion}.efi`;
    const efi = await readFile(join(efiDir, 'systemd-bootx64.efi'));
    await stage(espTree, {
      'EFI/BOOT/BOOTX64.EFI': efi,
      'EFI/systemd/systemd-bootx64.efi': efi,
      'loader/loader.conf': UKI_LOADER_CONF,
    });
    await mkdir(join(espTree, 'EFI/Linux'), { recursive: true });
    await buildFixtureUki(
      {
        stub: join(efiDir, 'linuxx64.efi.stub'),
        osRelease: osReleasePath,
        cmdline: kernelCmdline(plan),
        kernelVersion,
        kernel: join(root, 'boot', `vmlinuz-${kernelVersion}`),
        initrd: join(root, 'boot', `initrd.img-${kernelVersion}`),
      },
      join(espTree, 'EFI/Linux', uki),
      join(work, 'uki'),
      (command, args) => sh(command, args, env),
    );
  } else if (o.bootloader === 'systemd-boot') {
    const efi = await readFile(join(efiDir, 'systemd-bootx64.efi'));
    const files = systemdBootFiles(plan, title);
    await stage(espTree, {
      'EFI/BOOT/BOOTX64.EFI': efi,
      'EFI/systemd/systemd-bootx64.efi': efi,
      ...files.esp,
    });
    // Entries and kernels: on the XBOOTLDR partition when there is one, else on the ESP.
    await stage(o.separateBoot ? bootTree : espTree, { ...files.entries, ...kernelFiles });
  } else {
    // grub.cfg of a /boot partition can name the verity root hash, known only now.
    if (o.separateBoot) await writeGrubCfg(join(bootTree, 'grub'));
  }
  const mkvfat = async (tree: string, file: string, volume: string, label: string, mib: number) => {
    await sh('mkfs.vfat', ['-C', '-i', volume, '--invariant', '-n', label, file, String(mib * 1024)], env);
    for (const entry of await readdir(tree))
      await sh('mcopy', ['-s', '-m', '-i', file, join(tree, entry), '::/'], env);
  };
  const espPart = layout.find((p) => p.role === 'esp')!;
  const espImg = join(work, 'esp.img');
  await mkvfat(espTree, espImg, ids.espVolume, 'ESP', espPart.size / MiB);
  images.set(espPart.number, espImg);
  const bootPart = layout.find((p) => p.role === 'boot');
  if (bootPart !== undefined) {
    const bootImg = join(work, 'boot.img');
    if (bootFsType === 'vfat') await mkvfat(bootTree, bootImg, ids.bootVolume, 'BOOT', bootPart.size / MiB);
    else await mkext4(bootTree, bootImg, ids.bootFs, 'boot', bootPart.size / MiB);
    images.set(bootPart.number, bootImg);
  }

  // --- the disk: GPT, then each filesystem at its offset ---
  const disk = join(out, 'disk.img');
  await writeFile(disk, '');
  await truncate(disk, diskSize);
  const sgdisk = ['-o', '-U', ids.disk];
  for (const p of layout) {
    const first = p.offset / 512;
    sgdisk.push(
      ...['-n', `${p.number}:${first}:${first + p.size / 512 - 1}`, '-t', `${p.number}:${p.typeGuid}`],
      ...['-u', `${p.number}:${p.partUuid}`, '-c', `${p.number}:${p.role}`],
    );
  }
  await sh('sgdisk', [...sgdisk, disk]);
  for (const p of layout) {
    const image = images.get(p.number);
    if (image === undefined) continue;
    await sh('dd', [
      `if=${image}`,
      `of=${disk}`,
      'bs=1M',
      `seek=${p.offset / MiB}`,
      'conv=notrunc,sparse',
      'status=none',
    ]);
  }
  await rm(work, { recursive: true, force: true });

  // --- the COSI, made by our own CLI as a user would ---
  const cosi = join(out, 'os.cosi');
  // The verity hashes are ours to declare: without them the builder would shrink the verity data
  // like any ext4 and the hash tree would no longer match.
  const numberOf = (role: FixturePartition['role']) => layout.find((p) => p.role === role)!.number;
  const verityArgs = [
    ...(roothash === undefined
      ? []
      : ['--verity', `${numberOf('root')}:${numberOf('root-hash')}:${roothash}`]),
    ...(usrhash === undefined ? [] : ['--verity', `${numberOf('usr')}:${numberOf('usr-hash')}:${usrhash}`]),
  ];
  await runCli(['cosi', 'build', disk, '-o', cosi, ...verityArgs]);
  const cosiSha384 = (await runCli(['cosi', 'hash', cosi])).trim();
  return {
    name,
    key,
    disk,
    diskSize,
    cosi,
    cosiSha384,
    flavour: o.flavour,
    bootloader: o.bootloader,
    versionId,
    hostname: o.hostname,
    kernelVersion,
    cmdline: kernelCmdline(plan),
    partitions: layout,
    ...(uki === undefined ? {} : { uki }),
    ...(roothash === undefined ? {} : { roothash }),
    ...(usrhash === undefined ? {} : { usrhash }),
  };
}

/** Hash partition size for `dataMiB` of verity data: the tree takes under 1/64 of the data. */
function hashMiB(dataMiB: number): number {
  return Math.ceil(dataMiB / 64) + 2;
}

/**
 * `veritysetup format` of a data image into a new hash image, salt and UUID derived from `seed` so
 * rebuilds repeat; returns the root hash.
 */
async function formatVerity(dataImg: string, hashImg: string, seed: string): Promise<string> {
  await writeFile(hashImg, '');
  const stdout = await sh('veritysetup', [
    'format',
    dataImg,
    hashImg,
    `--salt=${createHash('sha256').update(`${seed}/salt`).digest('hex')}`,
    `--uuid=${uuidFor(seed, 'verity')}`,
  ]);
  const hash = /Root hash:\s*([0-9a-f]+)/u.exec(stdout)?.[1];
  if (hash === undefined) throw new Error(`veritysetup printed no root hash: ${stdout}`);
  return hash;
}

function runCli(args: string[]): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--conditions=@trident/source', CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolveRun(stdout)
        : reject(new Error(`trident ${args.join(' ')} exited with ${code}: ${stderr}`)),
    );
  });
}
