// The main job on the embedded default: a local nginx serves a demo COSI, and `trident
// stream-disk` writes it into a disk-image file, which is then checked as a GPT disk.
// Everything lands in ./demo (git-ignored); nginx runs on a free loopback port and is stopped.
import { spawnSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createDemoDiskImage } from '@trident/test-support/disk-image';
import { startNginx } from '@trident/test-support/nginx';

const root = resolve(import.meta.dirname, '..');
const demo = join(root, 'demo');
const cli = join(root, 'apps/cli/src/main.ts');

function step(title: string): void {
  console.log(`\n== ${title}`);
}

function trident(args: string[], capture = false): string {
  const result = spawnSync(process.execPath, ['--conditions=@trident/source', cli, ...args], {
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`trident ${args.join(' ')} exited with ${result.status}`);
  return result.stdout ?? '';
}

await mkdir(demo, { recursive: true });
step('generating a 2 GiB GPT disk image (vfat ESP + ext4 root with an OS tree)');
const source = await createDemoDiskImage({
  path: join(demo, 'source-disk.img'),
  sizeMiB: 2048,
  espMiB: 128,
  rootMiB: 1024,
  payloadBytes: 64 * 1024 * 1024,
});
for (const p of source.partitions)
  console.log(`  partition ${p.number} ${p.name}: ${p.fsType ?? 'raw'} ${p.size / 1048576} MiB`);

step('trident cosi build');
trident(['cosi', 'build', source.path, '-o', join(demo, 'demo.cosi')]);
const hash = trident(['cosi', 'hash', join(demo, 'demo.cosi')], true).trim();
console.log(`metadata sha384: ${hash}`);

const nginx = await startNginx({ root: demo });
try {
  const url = `${nginx.url}/demo.cosi`;
  step(`trident cosi inspect ${url}`);
  trident(['cosi', 'inspect', url]);
  step(`trident stream-disk ${url} --target-image demo/disk.img --target-size 4G`);
  const target = join(demo, 'disk.img');
  await rm(target, { force: true });
  trident(['stream-disk', url, '--hash', `sha384:${hash}`, '--target-image', target, '--target-size', '4G']);
  step('sgdisk -v demo/disk.img');
  const check = spawnSync('sgdisk', ['-v', target], { encoding: 'utf8' });
  process.stdout.write(check.stdout);
  if (!check.stdout.includes('No problems found'))
    throw new Error('the written disk image is not a valid GPT disk');
  spawnSync('sgdisk', ['-p', target], { stdio: 'inherit' });
  console.log(
    '\ndemo/disk.img is a valid GPT disk holding the demo OS tree (the demo has no kernel, so it does not boot).',
  );
} finally {
  await nginx.stop();
}
