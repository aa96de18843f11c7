import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBlockWriterError } from './errors.ts';
import { decodeGptHeader, decodeGptRegion, encodeGptHeader, layoutGpt } from './gpt.ts';
import { buildFixtureDisk, type FixtureDisk, sh } from './test-support/fixture-disk.ts';
import { planGpt } from './write-gpt.ts';

let dir: string;
let fixture: FixtureDisk;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-gpt-'));
  fixture = buildFixtureDisk(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(isBlockWriterError(error) ? error.code : error).toBe(code);
    if (message !== undefined) expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('decodeGptRegion', () => {
  it('reads what sgdisk wrote: entries, names, disk GUID', () => {
    const gpt = decodeGptRegion(fixture.region, 512);
    expect(gpt.partitions.map((p) => [p.number, p.name, p.typeGuid])).toEqual([
      [1, 'esp', 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'],
      [2, 'root', '0fc63daf-8483-4772-8e79-3d69d8477de4'],
    ]);
    const guid = sh('sgdisk', ['-i', '2', join(dir, 'source.img')]);
    expect(guid.toLowerCase()).toContain(gpt.partitions[1]?.partitionGuid);
    expect(gpt.partitions[0]?.firstLba).toBe(2048);
    expect(gpt.header.numberOfEntries).toBe(128);
  });

  it('re-encodes a header byte for byte', () => {
    const lba1 = fixture.region.subarray(512, 1024);
    expect(encodeGptHeader(decodeGptHeader(lba1), 512)).toEqual(new Uint8Array(lba1));
  });

  it('rejects a header with a bad CRC', () => {
    const broken = new Uint8Array(fixture.region);
    broken[512 + 40] = (broken[512 + 40] ?? 0) ^ 1;
    expectCode(() => decodeGptRegion(broken, 512), 'BLOCK_GPT_INVALID', /header CRC32/);
  });

  it('rejects entries whose CRC does not match', () => {
    const broken = new Uint8Array(fixture.region);
    broken[1024 + 60] = (broken[1024 + 60] ?? 0) ^ 1;
    expectCode(() => decodeGptRegion(broken, 512), 'BLOCK_GPT_INVALID', /entry array CRC32/);
  });

  it('rejects a missing protective MBR, a short region and an unsupported LBA size', () => {
    const noMbr = new Uint8Array(fixture.region);
    noMbr.fill(0, 446, 510);
    expectCode(() => decodeGptRegion(noMbr, 512), 'BLOCK_GPT_INVALID');
    expectCode(() => decodeGptRegion(fixture.region.subarray(0, 1000), 512), 'BLOCK_GPT_INVALID');
    expectCode(() => decodeGptRegion(fixture.region, 1024), 'BLOCK_GPT_INVALID');
    expectCode(() => decodeGptRegion(fixture.region.subarray(0, 30 * 512), 512), 'BLOCK_GPT_INVALID');
  });

  it('rejects overlapping partitions even with valid CRCs', () => {
    const region = new Uint8Array(fixture.region);
    const dv = new DataView(region.buffer);
    // entry 2 starts inside entry 1
    dv.setBigUint64(1024 + 128 + 32, 4096n, true);
    dv.setUint32(512 + 88, crc32(region.subarray(1024, 1024 + 128 * 128)), true);
    const header = decodeGptHeaderUnchecked(region);
    region.set(encodeGptHeader(header, 512), 512);
    expectCode(() => decodeGptRegion(region, 512), 'BLOCK_GPT_INVALID', /partitions 1 .* and 2 .* overlap/);
  });
});

/** Header fields without the CRC check (after a deliberate edit). */
function decodeGptHeaderUnchecked(region: Uint8Array) {
  const lba = new Uint8Array(region.subarray(512, 1024));
  const dv = new DataView(lba.buffer);
  dv.setUint32(16, 0, true);
  dv.setUint32(16, crc32(lba.subarray(0, 92)), true);
  return decodeGptHeader(lba);
}

describe('layoutGpt', () => {
  it('moves the backup to the end of a larger disk and keeps entries and disk GUID', () => {
    const gpt = decodeGptRegion(fixture.region, 512);
    const totalLbas = (64 * 1024 * 1024) / 512;
    const layout = layoutGpt(gpt, totalLbas);
    const primary = decodeGptHeader(layout.primaryHeader);
    const backup = decodeGptHeader(layout.backupHeader);
    expect(primary.alternateLba).toBe(totalLbas - 1);
    expect(backup.myLba).toBe(totalLbas - 1);
    expect(backup.alternateLba).toBe(1);
    expect(backup.partitionEntryLba).toBe(totalLbas - 33);
    expect(primary.lastUsableLba).toBe(totalLbas - 34);
    expect(backup.lastUsableLba).toBe(primary.lastUsableLba);
    expect(primary.diskGuid).toEqual(gpt.header.diskGuid);
    expect(layout.diskGuid).toBe(fixture.diskGuid);
    expect(layout.entries.subarray(0, gpt.entries.byteLength)).toEqual(gpt.entries);
    expect(primary.entriesCrc32).toBe(gpt.header.entriesCrc32);
    // protective MBR record size = disk size - 1 LBA
    expect(new DataView(layout.mbr.buffer).getUint32(446 + 12, true)).toBe(totalLbas - 1);
  });

  it('refuses a disk too small for the partitions plus the backup GPT', () => {
    const gpt = decodeGptRegion(fixture.region, 512);
    const lastLba = Math.max(...gpt.partitions.map((p) => p.lastLba));
    expectCode(() => layoutGpt(gpt, lastLba + 33), 'BLOCK_GPT_DOES_NOT_FIT');
    expect(() => layoutGpt(gpt, lastLba + 34)).not.toThrow();
  });

  it('caps the protective MBR size at 0xFFFFFFFF on disks over 2 TiB', () => {
    const gpt = decodeGptRegion(fixture.region, 512);
    const layout = layoutGpt(gpt, 2 ** 33);
    expect(new DataView(layout.mbr.buffer).getUint32(446 + 12, true)).toBe(0xffffffff);
  });
});

describe('planGpt: what writeGpt would refuse, found before anything is written', () => {
  /** The fixture region with header and entry edits applied, CRCs recomputed (a well-formed liar). */
  function edited(edit: {
    firstUsable?: number;
    lastUsable?: number;
    partition2LastLba?: number;
  }): Uint8Array {
    const region = new Uint8Array(fixture.region);
    const entries = region.subarray(1024, 1024 + 128 * 128);
    if (edit.partition2LastLba !== undefined)
      new DataView(entries.buffer, entries.byteOffset).setBigUint64(
        128 + 40,
        BigInt(edit.partition2LastLba),
        true,
      );
    const header = decodeGptHeader(region.subarray(512, 1024));
    region.set(
      encodeGptHeader(
        {
          ...header,
          firstUsableLba: edit.firstUsable ?? header.firstUsableLba,
          lastUsableLba: edit.lastUsable ?? header.lastUsableLba,
          entriesCrc32: crc32(entries),
        },
        512,
      ),
      512,
    );
    return region;
  }

  it('lays the fixture out as writeGpt does', () => {
    const planned = planGpt(fixture.region, { lbaSize: 512, size: fixture.diskSize, device: 'disk.img' });
    expect(planned.partitions.map((p) => [p.number, p.offset, p.size])).toEqual(
      fixture.images.map((i) => [i.number, i.offset, i.size]),
    );
  });

  it('refuses FirstUsableLBA inside the entry array and a partition over the backup GPT', () => {
    expectCode(
      () => planGpt(edited({ firstUsable: 10 }), { lbaSize: 512, size: fixture.diskSize }),
      'BLOCK_GPT_INVALID',
      /first usable LBA 10 lies inside the partition entry array/,
    );
    const totalLbas = fixture.diskSize / 512;
    const overBackup = edited({ lastUsable: totalLbas - 2, partition2LastLba: totalLbas - 2 });
    expect(() => decodeGptRegion(overBackup, 512)).not.toThrow();
    expectCode(
      () => planGpt(overBackup, { lbaSize: 512, size: fixture.diskSize, device: 'disk.img' }),
      'BLOCK_GPT_DOES_NOT_FIT',
      /disk\.img/,
    );
  });
});
