import { existsSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGptRegion } from '@trident/cosi-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDemoCosi,
  type DemoCosi,
  hashRange,
  imageHashes,
  readPrimaryGpt,
} from '../../test-support/demo-cosi.ts';
import type { EngineEvent } from '../../types.ts';
import { planStreamDisk } from '../stream-disk/plan-stream-disk.ts';
import type { StreamDiskRequest } from '../stream-disk/request.ts';
import { writeTablesLast } from './gpt-last.ts';
import { journalPath, readJournal } from './journal.ts';
import { failedRun, startSession } from './run-session.ts';
import { openTargets, releaseTargets } from './targets.ts';
import { writeImages } from './write-images.ts';

/**
 * The shared phases one at a time, on a disk-image file and without root: open (checks, wipe),
 * write images (verified, journalled), release, resume (re-verify by sampled digest), GPT last.
 */
let dir: string;
let cosi: DemoCosi;
let expected: Map<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-phases-'));
  cosi = await createDemoCosi(dir);
  expected = await imageHashes(cosi, join(dir, 'extracted'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function planFor(target: string, resume = false) {
  const request: StreamDiskRequest = {
    kind: 'stream-disk',
    url: cosi.path,
    target: { kind: 'image-file', path: target },
    resize: false,
    resume,
  };
  return planStreamDisk(request);
}

function session(events: EngineEvent[] = []) {
  return startSession({ onEvent: (event) => events.push(event) }, 'trident::engine::test');
}

const messages = (events: EngineEvent[]) =>
  events.flatMap((event) => (event.type === 'log' ? [event.message] : []));

describe('deploy phases on a disk-image file', () => {
  it('journals every verified image, keeps the file for resume, re-verifies it, rewrites what changed, writes the GPT last', async () => {
    const target = join(dir, 'resume.img');
    const journalFile = journalPath(target, 'image-file');

    // A first run that stops after the images: the file holds verified images and their journal.
    const first = await planFor(target);
    const run1 = session();
    const opened = await openTargets(
      first.plan,
      [first.context.layout],
      first.context.protect,
      run1.session.log,
    );
    expect(opened[0]).toMatchObject({ fresh: true, done: new Set() });
    await writeImages(first.plan, opened, first.context.reader, run1.session);
    await releaseTargets(opened, { succeeded: false, log: run1.session.log });
    run1.dispose();
    await first.context.reader.close();
    expect(existsSync(target)).toBe(true);
    const journal = await readJournal(journalFile);
    expect(journal?.metadataSha384).toBe(cosi.metadataSha384);
    expect(journal?.images.map((i) => i.partitionNumber).sort()).toEqual(
      first.plan.images.map((i) => i.partitionNumber).sort(),
    );
    // No GPT yet: an interrupted run never leaves a table pointing at its data.
    await expect(readPrimaryGpt(target)).rejects.toThrow();

    // Overwrite one byte the sampled digest covers (the first block of the root image).
    const root = first.plan.images.find((i) => i.mountPoint === '/')!;
    const handle = await open(target, 'r+');
    await handle.write(Buffer.from([0xa5]), 0, 1, root.offset + 1024);
    await handle.close();

    const second = await planFor(target, true);
    const events: EngineEvent[] = [];
    const run2 = session(events);
    const reopened = await openTargets(
      second.plan,
      [second.context.layout],
      second.context.protect,
      run2.session.log,
    );
    const others = second.plan.images.filter((i) => i.partitionNumber !== root.partitionNumber);
    expect([...reopened[0]!.done].sort()).toEqual(others.map((i) => i.partitionNumber).sort());
    expect(reopened[0]!.fresh).toBe(false);
    expect(messages(events).some((m) => /no longer matches/u.test(m))).toBe(true);
    expect(messages(events).some((m) => /Wiped/u.test(m))).toBe(false); // a resume never wipes

    const compressed = await writeImages(second.plan, reopened, second.context.reader, run2.session);
    expect(compressed).toBe(root.compressedSize); // only the changed image was written again
    await writeTablesLast(reopened, [second.context.layout], run2.session.signal, run2.session.log);
    await releaseTargets(reopened, { succeeded: true, log: run2.session.log });
    run2.dispose();
    await second.context.reader.close();

    expect(existsSync(journalFile)).toBe(false);
    const gpt = await readPrimaryGpt(target);
    expect(gpt.partitions.map((p) => p.firstLba * 512)).toEqual(cosi.source.partitions.map((p) => p.offset));
    for (const image of second.plan.images)
      expect(await hashRange(target, image.offset, image.uncompressedSize)).toBe(
        expected.get(image.imagePath),
      );
  });

  it('removes a file it created when the run ends before any image verified', async () => {
    const target = join(dir, 'abandoned.img');
    const { plan, context } = await planFor(target);
    const events: EngineEvent[] = [];
    const run = session(events);
    const opened = await openTargets(plan, [context.layout], context.protect, run.session.log);
    expect(existsSync(target)).toBe(true);
    await releaseTargets(opened, { succeeded: false, log: run.session.log });
    run.dispose();
    await context.reader.close();
    expect(existsSync(target)).toBe(false);
    expect(existsSync(journalPath(target, 'image-file'))).toBe(false);
    expect(messages(events).some((m) => /this run created it and wrote no verified image/u.test(m))).toBe(
      true,
    );
  });

  it('refuses at open a target whose sector size is not the one the table was laid out for', async () => {
    const target = join(dir, 'sectors.img');
    const { plan, context } = await planFor(target);
    const run = session();
    await expect(
      openTargets(plan, [{ ...context.layout, lbaSize: 4096 }], context.protect, run.session.log),
    ).rejects.toMatchObject({
      tridentError: { kind: 'UNSUPPORTED_CONFIGURATION_ERROR', subkind: 'unsafe-target' },
    });
    run.dispose();
    await context.reader.close();
    expect(existsSync(target)).toBe(false); // every check before the first write
  });

  it('stops every image when the caller aborts, as a cancellation', async () => {
    const target = join(dir, 'aborted.img');
    const { plan, context } = await planFor(target);
    const controller = new AbortController();
    const run = startSession({ signal: controller.signal }, 'trident::engine::test');
    const opened = await openTargets(plan, [context.layout], context.protect, run.session.log);
    controller.abort(new Error('test interrupt'));
    expect(run.session.signal.aborted).toBe(true);
    const error: unknown = await writeImages(plan, opened, context.reader, run.session).catch(
      (e: unknown) => e,
    );
    expect(failedRun(error, run.session).error).toMatchObject({
      kind: 'SERVICING_ERROR',
      subkind: 'cancelled',
    });
    await releaseTargets(opened, { succeeded: false, log: run.session.log });
    run.dispose();
    await context.reader.close();
    expect(existsSync(target)).toBe(false);
  });

  it('opens a disk that keeps partitions: their bytes untouched, a table of only them until the GPT is written', async () => {
    const target = join(dir, 'kept.img');
    const { plan, context } = await planFor(target);
    const size = plan.targets[0]!.size;
    const MiB = 1024 * 1024;
    // An existing disk full of old data; the kept partition reaches into the last MiB.
    const handle = await open(target, 'w');
    await handle.write(Buffer.alloc(size, 0x5a), 0, size, 0);
    await handle.close();
    const keptRange: [number, number] = [size - 3 * MiB, size - 34 * 512];
    const before = await hashRange(target, keptRange[0], keptRange[1] - keptRange[0]);
    const kept = {
      ranges: [keptRange],
      gptRegion: encodeGptRegion({
        lbaSize: 512,
        totalLbas: size / 512,
        diskGuid: '0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3',
        partitions: [
          {
            number: 3,
            typeGuid: '0fc63daf-8483-4772-8e79-3d69d8477de4',
            partitionGuid: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
            firstLba: keptRange[0] / 512,
            lastLba: keptRange[1] / 512 - 1,
            name: 'kept',
          },
        ],
      }),
    };
    const run = session();
    const opened = await openTargets(
      { ...plan, targets: [{ ...plan.targets[0]!, create: false, keepContents: true }] },
      [{ ...context.layout, kept }],
      context.protect,
      run.session.log,
    );
    await releaseTargets(opened, { succeeded: false, log: run.session.log });
    run.dispose();
    await context.reader.close();
    // Not created by this run: kept, with the kept partition's bytes and a table naming only it.
    expect(await hashRange(target, keptRange[0], keptRange[1] - keptRange[0])).toBe(before);
    const gpt = await readPrimaryGpt(target);
    expect(gpt.partitions.map((p) => [p.number, p.name])).toEqual([[3, 'kept']]);
    // Outside it, both ends were wiped (the start: up to the table written over it).
    expect(await hashRange(target, 64 * 512, MiB - 64 * 512)).toBe(
      await hashRange('/dev/zero', 0, MiB - 64 * 512),
    );
  });
});
