import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { metadataSha384 } from '../metadata/parse.ts';
import { buildFixtureCosi, sha384Hex } from '../test-support/fixture-cosi.ts';
import { openCosi } from './open-cosi.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('openCosi', () => {
  const fixture = buildFixtureCosi();
  const metadataText = JSON.stringify(fixture.metadata, null, 2);

  it('hashes exactly the metadata.json member bytes, as Trident does', async () => {
    const reader = await openCosi(createBufferSource(fixture.bytes));
    expect(reader.metadataSha384).toBe(sha384Hex(new TextEncoder().encode(metadataText)));
    expect(reader.metadataSha384).toBe(metadataSha384(reader.metadataBytes));
  });

  it('accepts the expected hash as ignored or sha384:hex (any case), as Trident does', async () => {
    const hex = sha384Hex(new TextEncoder().encode(metadataText));
    for (const expected of ['ignored', `sha384:${hex}`, `sha384:${hex.toUpperCase()}`]) {
      await expect(
        openCosi(createBufferSource(fixture.bytes), { expectedSha384: expected }),
      ).resolves.toBeDefined();
    }
  });

  it("refuses bare hex with Trident's unsupported-hash-kind message", async () => {
    const hex = sha384Hex(new TextEncoder().encode(metadataText));
    await expect(openCosi(createBufferSource(fixture.bytes), { expectedSha384: hex })).rejects.toMatchObject({
      code: 'COSI_HASH_FORMAT',
      message: `Hash '${hex}' has unsupported hash kind. Expected 'ignored' or 'sha384:' prefix.`,
    });
  });

  it('refuses a metadata hash that does not match, naming both hashes', async () => {
    const wrong = 'ab'.repeat(48);
    await expect(
      openCosi(createBufferSource(fixture.bytes), { expectedSha384: `sha384:${wrong}` }),
    ).rejects.toMatchObject({
      code: 'COSI_METADATA_HASH_MISMATCH',
      message: expect.stringContaining(wrong),
    });
    // A malformed prefixed hash fails the same way (Trident compares whatever follows the prefix).
    await expect(
      openCosi(createBufferSource(fixture.bytes), { expectedSha384: 'sha384:abc' }),
    ).rejects.toMatchObject({
      code: 'COSI_METADATA_HASH_MISMATCH',
      message: expect.stringContaining('not 96 hexadecimal digits'),
    });
  });

  it('says when the archive has no metadata', async () => {
    const bare = buildFixtureCosi({
      members: (members) => members.filter((m) => m.name !== 'metadata.json'),
    });
    await expect(openCosi(createBufferSource(bare.bytes))).rejects.toMatchObject({
      code: 'COSI_METADATA_NOT_FOUND',
    });
  });

  it('decodes the primary GPT and returns the region bytes verbatim', async () => {
    const reader = await openCosi(createBufferSource(fixture.bytes));
    const gpt = await reader.gpt();
    expect(gpt.partitions.map((p) => p.number)).toEqual([1, 2]);
    expect(Buffer.compare(Buffer.from(await reader.gptRegionBytes()), Buffer.from(fixture.gptRegion))).toBe(
      0,
    );
  });

  it('refuses GPT access below COSI 1.2', async () => {
    const old = buildFixtureCosi({ mutate: (m) => (m.version = '1.1') });
    const reader = await openCosi(createBufferSource(old.bytes));
    await expect(reader.gpt()).rejects.toMatchObject({ code: 'COSI_GPT_UNAVAILABLE' });
  });

  it('verifies every image once and finds a corrupted one', async () => {
    const good = await openCosi(createBufferSource(fixture.bytes));
    const results = await good.verifyImages();
    expect(results.map((r) => [r.file.path, r.ok])).toEqual([
      ['images/esp.raw.zst', true],
      ['images/root.raw.zst', true],
      ['images/gpt.raw.zst', true],
    ]);
    expect(results[1]?.uncompressedBytes).toBe(fixture.raw.get('images/root.raw.zst')!.length);

    const bad = buildFixtureCosi({ corruptAfterHash: 'images/root.raw.zst' });
    const reader = await openCosi(createBufferSource(bad.bytes));
    const verdict = (await reader.verifyImages()).find((r) => r.file.path === 'images/root.raw.zst');
    expect(verdict?.ok).toBe(false);
    expect(['COSI_IMAGE_HASH_MISMATCH', 'COSI_IMAGE_CORRUPT']).toContain(verdict?.finding?.code);
  });

  it('reports an image that decodes to a different length', async () => {
    const bad = buildFixtureCosi({
      mutate: (m) => {
        m.images[1].image.uncompressedSize -= 1;
        m.disk.gptRegions[2].image.uncompressedSize -= 1;
      },
    });
    const reader = await openCosi(createBufferSource(bad.bytes));
    const verdict = (await reader.verifyImages()).find((r) => r.file.path === 'images/root.raw.zst');
    expect(verdict?.finding?.code).toBe('COSI_IMAGE_SIZE_MISMATCH');
  });

  it('opens files by path and closes them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cosi-open-'));
    dirs.push(dir);
    const path = join(dir, 'demo.cosi');
    await writeFile(path, fixture.bytes);
    const reader = await openCosi(path);
    expect((await reader.validate('spec')).valid).toBe(true);
    await reader.close();
  });
});
