import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoCosi, type DemoCosi } from '../../test-support/demo-cosi.ts';
import { journalPath, saveJournal } from '../phases/journal.ts';
import { planStreamDisk } from './plan-stream-disk.ts';
import type { StreamDiskRequest } from './request.ts';

/** Stream-disk planning on a real COSI and disk-image file targets: no root, nothing written. */
const MiB = 1024 * 1024;
let dir: string;
let cosi: DemoCosi;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-plan-stream-'));
  cosi = await createDemoCosi(dir);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function request(target: string, more: Partial<StreamDiskRequest> = {}): StreamDiskRequest {
  return { kind: 'stream-disk', url: cosi.path, target: { kind: 'image-file', path: target }, ...more };
}

async function planned(req: StreamDiskRequest) {
  const { plan, context } = await planStreamDisk(req);
  await context.reader.close();
  return { plan, context };
}

describe('planning stream-disk', () => {
  it("derives every partition from the image's GPT and writes nothing", async () => {
    const target = join(dir, 'plan.img');
    const { plan, context } = await planned(request(target));
    expect(existsSync(target)).toBe(false);
    expect(plan.images.map((i) => [i.id, i.partitionNumber, i.offset, i.length])).toEqual(
      cosi.source.partitions.map((p, index) => [`partition-${index + 1}`, p.number, p.offset, p.size]),
    );
    expect(plan.targets).toEqual([
      {
        kind: 'image-file',
        path: target,
        size: cosi.source.size,
        sectorSize: 512,
        create: true,
        replace: false,
      },
    ]);
    expect(plan).toMatchObject({
      requiredSize: cosi.source.size,
      lbaSize: 512,
      concurrency: 2,
      newFilesystems: [],
    });
    expect(plan.source).toMatchObject({
      url: cosi.path,
      metadataSha384: cosi.metadataSha384,
      osArch: 'x86_64',
    });
    // The table written last is the image's own, for the image's LBA size.
    expect(context.layout).toMatchObject({ lbaSize: 512, partitionCount: cosi.source.partitions.length });
    expect(context.protect).toEqual([cosi.path]);
    expect(plan.steps[0]).toBe(
      `create disk-image file ${target} (${(cosi.source.size / MiB).toFixed(1)} MiB, sparse)`,
    );
    expect(plan.steps.at(-1)).toBe('sync');
  });

  it('grows only a writable ext filesystem shrunk below its partition, and nothing with resize: false', async () => {
    const { plan } = await planned(request(join(dir, 'grow.img')));
    const root = plan.images.find((i) => i.mountPoint === '/')!;
    const esp = plan.images.find((i) => i.partitionNumber === cosi.source.esp.number)!;
    expect(root.uncompressedSize).toBeLessThan(root.length); // the COSI writer shrank it
    expect(root.grow).toBe(true);
    expect(esp.grow).toBe(false); // vfat
    const kept = await planned(request(join(dir, 'grow.img'), { resize: false }));
    expect(kept.plan.images.every((i) => !i.grow)).toBe(true);
    expect(kept.plan.steps).toContain('keep every partition exactly as imaged (--no-resize)');
  });

  it('makes a disk-image file as large as asked, never smaller than the image needs', async () => {
    const bigger = await planned({
      ...request(''),
      target: { kind: 'image-file', path: join(dir, 'big.img'), size: 256 * MiB },
    });
    expect(bigger.plan.targets[0]!.size).toBe(256 * MiB);
    const smaller = await planned({
      ...request(''),
      target: { kind: 'image-file', path: join(dir, 'small.img'), size: MiB },
    });
    expect(smaller.plan.targets[0]!.size).toBe(cosi.source.size);
  });

  it('refuses at plan time what the run would refuse', async () => {
    const existing = join(dir, 'existing.img');
    await writeFile(existing, 'not a disk yet');
    await expect(planStreamDisk(request(existing))).rejects.toMatchObject({
      tridentError: { kind: 'UNSUPPORTED_CONFIGURATION_ERROR', subkind: 'unsafe-target' },
    });
    await planned({ ...request(''), target: { kind: 'image-file', path: existing, overwrite: true } });

    // The image being read is never the target, even with overwrite.
    await expect(
      planStreamDisk({ ...request(''), target: { kind: 'image-file', path: cosi.path, overwrite: true } }),
    ).rejects.toMatchObject({ tridentError: { subkind: 'unsafe-target' } });

    const folder = join(dir, 'a-directory');
    await mkdir(folder);
    await expect(planStreamDisk(request(folder))).rejects.toMatchObject({
      code: 'ENGINE_TARGET_NOT_FILE',
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'invalid-target' },
    });

    await expect(
      planStreamDisk({
        ...request(''),
        target: { kind: 'image-file', path: join(dir, 'odd.img'), size: 200 * MiB + 1 },
      }),
    ).rejects.toMatchObject({ code: 'ENGINE_TARGET_SIZE', tridentError: { subkind: 'invalid-target' } });
  });

  it('refuses an image whose metadata hash is not the expected one, and a malformed expectation', async () => {
    await expect(
      planStreamDisk(request(join(dir, 'h.img'), { sha384: `sha384:${'0'.repeat(96)}` })),
    ).rejects.toMatchObject({
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'load-cosi' },
    });
    await expect(planStreamDisk(request(join(dir, 'h.img'), { sha384: 'abc' }))).rejects.toMatchObject({
      tridentError: { kind: 'INVALID_INPUT_ERROR', subkind: 'unsupported-hash-kind' },
    });
    await planned(request(join(dir, 'h.img'), { sha384: `sha384:${cosi.metadataSha384}` }));
  });

  it("keeps an interrupted run's file for resume only when its journal is for this image", async () => {
    const target = join(dir, 'resumed.img');
    await writeFile(target, Buffer.alloc(0));
    await truncate(target, cosi.source.size); // what the interrupted run created
    const journal = (metadataSha384: string) => ({
      version: 1 as const,
      metadataSha384,
      target: { path: target, size: cosi.source.size },
      images: [],
    });
    await saveJournal(journalPath(target, 'image-file'), journal('ff'.repeat(48)));
    await expect(planStreamDisk(request(target, { resume: true }))).rejects.toMatchObject({
      tridentError: { subkind: 'unsafe-target' },
    });
    await saveJournal(journalPath(target, 'image-file'), journal(cosi.metadataSha384));
    const { plan } = await planned(request(target, { resume: true }));
    expect(plan.targets[0]!.path).toBe(target);
  });
});
