import { existsSync } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runTool } from '@trident/exec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discardPlan, plan, run } from './engine.ts';
import type { EngineEvent, EngineRequest } from './index.ts';
import { servicingKinds } from './servicing/registry.ts';
import {
  createDemoCosi,
  type DemoCosi,
  hashRange,
  imageHashes,
  readPrimaryGpt,
} from './test-support/demo-cosi.ts';
import { abConfig } from './test-support/host-configs.ts';

/**
 * The seam, end to end without root: requests reach their kind through the registry, plans are
 * held once, and a stream-disk run into a disk-image file writes the image's partitions and GPT.
 */
const MiB = 1024 * 1024;
let dir: string;
let cosi: DemoCosi;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-seam-'));
  cosi = await createDemoCosi(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const streamDisk = (target: string): EngineRequest => ({
  kind: 'stream-disk',
  url: cosi.path,
  target: { kind: 'image-file', path: target },
  // Growing an ext4 inside a file needs a loop device (root); these tests keep the images as made.
  resize: false,
});

describe('servicing-kind registry', () => {
  it('files every kind under its own request kind', () => {
    const entries = servicingKinds();
    expect(entries.map(([name]) => name).sort()).toEqual(['install', 'stream-disk', 'update']);
    for (const [name, kind] of entries) {
      expect(kind.kind).toBe(name);
      expect(kind.logTarget).toMatch(/^trident::engine::[a-z_]+$/u);
    }
  });

  it('refuses a request of a kind nobody serves, with a code', async () => {
    await expect(plan({ kind: 'ab-update' } as unknown as EngineRequest)).rejects.toMatchObject({
      code: 'ENGINE_UNKNOWN_KIND',
      tridentError: { kind: 'INTERNAL_ERROR' },
    });
  });
});

describe('plan store', () => {
  it('runs a plan once: a second run, or a run after discardPlan, is a coded failure, not a re-plan', async () => {
    const target = join(dir, 'once.img');
    const planned = await plan(streamDisk(target));
    await discardPlan(planned);
    const events: EngineEvent[] = [];
    const result = await run(planned, { onEvent: (event) => events.push(event) });
    expect(result).toMatchObject({ status: 'failure', error: { code: 'ENGINE_PLAN_NOT_HELD' } });
    expect(events.map((event) => event.type)).toEqual(['completed']);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a plan this process did not make (a copy of a real one)', async () => {
    const planned = await plan(streamDisk(join(dir, 'copy.img')));
    try {
      const copy = structuredClone(planned);
      expect(await run(copy)).toMatchObject({ status: 'failure', error: { code: 'ENGINE_PLAN_NOT_HELD' } });
    } finally {
      await discardPlan(planned);
    }
  });
});

describe('a stream-disk run into a disk-image file', () => {
  it('writes every partition image and the GPT last, reports events and leaves no journal', async () => {
    const target = join(dir, 'written.img');
    const planned = await plan(streamDisk(target));
    expect(existsSync(target)).toBe(false); // planning writes nothing
    const events: EngineEvent[] = [];
    const result = await run(planned, { onEvent: (event) => events.push(event) });
    expect(result).toMatchObject({
      status: 'success',
      imageHash: `sha384:${cosi.metadataSha384}`,
      servicingKind: 'clean-install',
      rebootRequired: false,
    });
    expect(events[0]?.type).toBe('started');
    expect(events.at(-1)?.type).toBe('completed');
    expect(
      events.some(
        (e) =>
          e.type === 'log' && e.target === 'trident::engine::stream_disk' && /Wrote the GPT/u.test(e.message),
      ),
    ).toBe(true);
    expect(events.some((e) => e.type === 'progress' && e.bytes === e.total && e.image === undefined)).toBe(
      true,
    );

    expect((await stat(target)).size).toBe(cosi.source.size);
    const gpt = await readPrimaryGpt(target);
    expect(gpt.header.diskGuid).toBe(cosi.source.diskGuid);
    expect(gpt.partitions.map((p) => [p.number, p.typeGuid, p.firstLba * 512])).toEqual(
      cosi.source.partitions.map((p) => [p.number, p.typeGuid, p.offset]),
    );
    // Every partition holds its image, decoded here by an independent decoder.
    const expected = await imageHashes(cosi, join(dir, 'extracted'));
    for (const image of planned.images)
      expect(await hashRange(target, image.offset, image.uncompressedSize)).toBe(
        expected.get(image.imagePath),
      );
    // The ESP is imaged whole: byte for byte the source partition.
    const esp = cosi.source.esp;
    expect(await hashRange(target, esp.offset, esp.size)).toBe(
      await hashRange(cosi.source.path, esp.offset, esp.size),
    );
    expect(existsSync(`${target}.trident-journal.json`)).toBe(false);
  });
});

// Install ends by configuring the host in the new root, which it mounts through a loop device.
const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn('skipping the whole install run: mounting the new root needs root');

describe.skipIf(!asRoot)('an install run into a disk-image file', () => {
  it('writes the images into their configured partitions, creates the new filesystems and swap, then the GPT', async () => {
    const target = join(dir, 'installed.img');
    // Not shrunk: without growing (resize off, so the images stay byte-comparable) the root needs
    // free space for the OS configuration.
    const unshrunk = await createDemoCosi(await mkdtemp(join(dir, 'unshrunk-')), { shrink: false });
    const cosi = unshrunk;
    const request: EngineRequest = {
      kind: 'install',
      hostConfiguration: { text: abConfig(pathToFileURL(cosi.path).href, cosi.metadataSha384) },
      disks: { os: { kind: 'image-file', path: target, size: 256 * MiB } },
      resize: false,
    };
    const planned = await plan(request);
    const events: EngineEvent[] = [];
    const result = await run(planned, { onEvent: (event) => events.push(event) });
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({
      status: 'success',
      imageHash: `sha384:${cosi.metadataSha384}`,
      rebootRequired: false,
    });
    expect(events.some((e) => e.type === 'log' && e.target === 'trident::engine::install')).toBe(true);

    const gpt = await readPrimaryGpt(target);
    expect(gpt.partitions.map((p) => [p.number, p.name, p.firstLba * 512])).toEqual(
      [1, 17, 81, 145, 153, 169].map((mib, index) => [
        index + 1,
        ['esp', 'root-a', 'root-b', 'swap', 'trident', 'data'][index],
        mib * MiB,
      ]),
    );
    // Every image landed in its partition; the root then got its OS configuration, so it is
    // checked by content: the fstab install wrote names volume A by its new PARTUUID, and the
    // Host Status went to the datastore on the new /var/lib/trident filesystem.
    const expected = await imageHashes(cosi, join(dir, 'extracted-install'));
    const rootImage = planned.images.find((image) => image.mountPoint === '/')!;
    const rootA = gpt.partitions.find((p) => p.name === 'root-a')!;
    const fstab = await debugfs(target, rootImage.offset, rootImage.length, 'cat /etc/fstab');
    expect(fstab).toMatch(new RegExp(`^/dev/disk/by-partuuid/${rootA.partitionGuid} / ext4 `, 'mu'));
    const trident = planned.newFilesystems.find((f) => f.id === 'trident')!;
    expect(await debugfs(target, trident.offset, trident.length, 'ls -l /')).toContain('datastore.sqlite');
    for (const image of planned.images.filter((i) => i.mountPoint !== '/' && i.mountPoint !== '/boot/efi'))
      expect(await hashRange(target, image.offset, image.uncompressedSize)).toBe(
        expected.get(image.imagePath),
      );
    const at = async (offset: number, length: number) => {
      const handle = await open(target, 'r');
      try {
        const bytes = Buffer.alloc(length);
        await handle.read(bytes, 0, length, offset);
        return bytes;
      } finally {
        await handle.close();
      }
    };
    const fs = (id: string) => planned.newFilesystems.find((f) => f.id === id)!;
    // Each created where its partition is: swap's signature ends its first page, ext4's magic is
    // in its superblock, a FAT boot sector ends in 55 AA.
    expect((await at(fs('swap').offset + 4086, 10)).toString('latin1')).toBe('SWAPSPACE2');
    expect((await at(fs('trident').offset + 1024 + 56, 2)).readUInt16LE(0)).toBe(0xef53);
    expect((await at(fs('data').offset + 510, 2)).toString('hex')).toBe('55aa');
    expect(existsSync(`${target}.trident-journal.json`)).toBe(false);
  });
});

/** debugfs on the filesystem at `offset` of a disk image (copied out: debugfs reads whole files). */
async function debugfs(disk: string, offset: number, length: number, request: string): Promise<string> {
  const copy = join(dir, `fs-${offset}.img`);
  const input = await open(disk, 'r');
  const output = await open(copy, 'w');
  try {
    const chunk = Buffer.alloc(4 * MiB);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await input.read(chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (bytesRead === 0) break;
      await output.write(chunk, 0, bytesRead);
      done += bytesRead;
    }
  } finally {
    await input.close();
    await output.close();
  }
  const { stdout } = await runTool('debugfs', ['-R', request, copy]);
  await rm(copy, { force: true });
  return stdout;
}
