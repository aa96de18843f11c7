import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * The seam, end to end without root: requests reach their kind through the registry, plans are
 * held once, and a stream-disk run into a disk-image file writes the image's partitions and GPT.
 */
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
    expect(entries.map(([name]) => name).sort()).toEqual(['install', 'stream-disk']);
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
