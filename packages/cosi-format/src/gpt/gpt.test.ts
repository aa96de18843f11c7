import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isCosiError } from '../errors.ts';
import { buildGptRegion } from '../test-support/memory-gpt.ts';
import { detectLbaSize, parseGpt } from './gpt.ts';
import { guidFromBytes, guidToBytes, normalizeUuid } from './guid.ts';

const ESP = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const LINUX = '0fc63daf-8483-4772-8e79-3d69d8477de4';
const DISK = 64 * 1024 * 1024;

function region(
  partitions = [
    {
      typeGuid: ESP,
      partitionGuid: '01234567-89ab-cdef-0123-456789abcdef',
      firstLba: 2048,
      lastLba: 4095,
      name: 'EFI System',
    },
    {
      typeGuid: LINUX,
      partitionGuid: '11234567-89ab-cdef-0123-456789abcdef',
      firstLba: 4096,
      lastLba: 8191,
      name: 'data',
    },
  ],
) {
  return buildGptRegion({ lbaSize: 512, diskSize: DISK, partitions });
}

function expectInvalid(bytes: Uint8Array, pattern: RegExp): void {
  try {
    parseGpt(bytes, { lbaSize: 512, diskSize: DISK });
  } catch (error) {
    expect(isCosiError(error, 'COSI_GPT_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('expected COSI_GPT_INVALID');
}

/** Re-seals the entry array and header CRCs after a test edits an entry. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(512 + 88, crc32(bytes.subarray(1024, 1024 + 128 * 128)), true);
  view.setUint32(512 + 16, 0, true);
  view.setUint32(512 + 16, crc32(bytes.subarray(512, 512 + 92)), true);
  return bytes;
}

describe('GUIDs', () => {
  it('round-trips the mixed-endian on-disk form', () => {
    const guid = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
    const bytes = guidToBytes(guid);
    expect(Buffer.from(bytes).toString('hex')).toBe('28732ac11ff8d211ba4b00a0c93ec93b');
    expect(guidFromBytes(bytes)).toBe(guid);
  });

  it('accepts the UUID spellings Trident accepts', () => {
    const canonical = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
    for (const spelling of [
      'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
      'c12a7328f81f11d2ba4b00a0c93ec93b',
      `{${canonical}}`,
      `urn:uuid:${canonical}`,
    ]) {
      expect(normalizeUuid(spelling)).toBe(canonical);
    }
    expect(normalizeUuid('not-a-uuid')).toBeUndefined();
  });
});

describe('parseGpt', () => {
  it('parses partitions with their numbers, GUIDs, names and DPS types', () => {
    const gpt = parseGpt(region(), { lbaSize: 512, diskSize: DISK });
    expect(gpt.regionLength).toBe(1024 + 128 * 128);
    expect(gpt.partitions.map((p) => [p.number, p.typeName, p.firstLba, p.lastLba, p.name])).toEqual([
      [1, 'esp', 2048, 4095, 'EFI System'],
      [2, 'linux-generic', 4096, 8191, 'data'],
    ]);
    expect(gpt.header.diskGuid).toBe('11111111-2222-3333-4444-555555555555');
    expect(detectLbaSize(region())).toBe(512);
  });

  it('keeps the entry index as the partition number when entries have gaps', () => {
    const gpt = parseGpt(
      region([
        {
          typeGuid: LINUX,
          partitionGuid: '21234567-89ab-cdef-0123-456789abcdef',
          firstLba: 2048,
          lastLba: 4095,
          name: 'x',
          number: 14,
        } as never,
      ]),
      { lbaSize: 512 },
    );
    expect(gpt.partitions.map((p) => p.number)).toEqual([14]);
  });

  it('rejects a missing signature, bad CRCs and short data', () => {
    const noSig = region();
    noSig[512] = 0;
    expectInvalid(noSig, /EFI PART/u);
    const badHeader = region();
    badHeader[512 + 40]! ^= 1;
    expectInvalid(badHeader, /header CRC32/u);
    const badEntries = region();
    badEntries[1024 + 60]! ^= 1;
    expectInvalid(badEntries, /entry array CRC32/u);
    expectInvalid(region().subarray(0, 900), /smaller than 2 LBAs/u);
    expectInvalid(region().subarray(0, 5000), /only 5000 bytes/u);
  });

  it('rejects overlapping and out-of-range partitions', () => {
    const overlapping = region([
      {
        typeGuid: LINUX,
        partitionGuid: '01234567-89ab-cdef-0123-456789abcdef',
        firstLba: 2048,
        lastLba: 5000,
        name: 'a',
      },
      {
        typeGuid: LINUX,
        partitionGuid: '11234567-89ab-cdef-0123-456789abcdef',
        firstLba: 4096,
        lastLba: 8191,
        name: 'b',
      },
    ]);
    expectInvalid(overlapping, /overlap/u);
    const outside = region([
      {
        typeGuid: LINUX,
        partitionGuid: '01234567-89ab-cdef-0123-456789abcdef',
        firstLba: 2048,
        lastLba: 10_000_000,
        name: 'a',
      },
    ]);
    expectInvalid(outside, /outside the usable range/u);
  });

  it('rejects an entry size that is not 128 x 2^n instead of crashing', () => {
    const bytes = region();
    new DataView(bytes.buffer).setUint32(512 + 84, 100, true);
    expectInvalid(reseal(bytes), /entry size 100/u);
  });

  it('rejects a protective MBR without type 0xEE', () => {
    const bytes = region();
    bytes[446 + 4] = 0x83;
    expectInvalid(bytes, /0xEE/u);
  });
});
