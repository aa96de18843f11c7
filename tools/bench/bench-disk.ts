import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { stageUsrTree } from './usr-tree.ts';

const MiB = 1 << 20;
const ESP_MIB = 64;

const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * MiB }).toString();

/**
 * A GPT disk for benchmarks, `<work>/<name>.img`: a 64 MiB vfat ESP and an ext4 root of `rootMiB`
 * holding `budget` bytes of /usr (real binaries, libraries and text: they compress like an OS image).
 * The rest of the root reads as zeros and stays sparse. Returns the path and the bytes staged.
 */
export function makeBenchDisk(
  work: string,
  name: string,
  rootMiB: number,
  budget: number,
): { disk: string; sizeMiB: number; staged: number } {
  const disk = path.join(work, `${name}.img`);
  const sizeMiB = ESP_MIB + rootMiB + 2;
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, sizeMiB * MiB);
  sh('sgdisk', [
    '-o',
    '-n',
    `1:2048:+${ESP_MIB}M`,
    '-t',
    '1:ef00',
    '-n',
    `2:0:+${rootMiB}M`,
    '-t',
    '2:8304',
    disk,
  ]);
  const esp = path.join(work, `${name}.esp.vfat`);
  fs.rmSync(esp, { force: true });
  sh('mkfs.vfat', ['-C', esp, String(ESP_MIB * 1024)]);
  const staging = path.join(work, `${name}.staging`);
  fs.rmSync(staging, { recursive: true, force: true });
  const staged = stageUsrTree(staging, budget);
  fs.mkdirSync(path.join(staging, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(staging, 'etc/os-release'), 'NAME="Bench Linux"\nID=bench\nVERSION_ID=1\n');
  fs.mkdirSync(path.join(staging, 'boot/grub'), { recursive: true });
  fs.writeFileSync(path.join(staging, 'boot/grub/grub.cfg'), 'linux /vmlinuz\n');
  const root = path.join(work, `${name}.root.ext4`);
  fs.rmSync(root, { force: true });
  sh('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', staging, root, `${rootMiB}M`]);
  fs.rmSync(staging, { recursive: true, force: true });
  sh('dd', [`if=${esp}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
  sh('dd', [
    `if=${root}`,
    `of=${disk}`,
    'bs=1M',
    `seek=${1 + ESP_MIB}`,
    'conv=notrunc,sparse',
    'status=none',
  ]);
  fs.rmSync(esp);
  fs.rmSync(root);
  return { disk, sizeMiB, staged };
}
