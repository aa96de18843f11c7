import { describe, expect, it } from 'vitest';
import { createBufferSource } from '../byte-source.ts';
import { isCosiError } from '../errors.ts';
import { buildTar } from '../test-support/memory-tar.ts';
import { readTarIndex } from './tar-index.ts';

const index = (bytes: Uint8Array) => readTarIndex(createBufferSource(bytes, 'test.tar'));

async function expectCode(bytes: Uint8Array, code: string): Promise<void> {
  await expect(index(bytes)).rejects.toSatisfy((error: unknown) => isCosiError(error) && error.code === code);
}

describe('readTarIndex', () => {
  it('indexes ustar members with their data offsets and stops at the end marker', async () => {
    const bytes = buildTar(
      [
        { name: 'cosi-marker' },
        { name: 'metadata.json', data: '{}' },
        { name: 'images/a', data: 'x'.repeat(600) },
      ],
      {
        trailer: new Uint8Array(2048).fill(0x41),
      },
    );
    const result = await index(bytes);
    expect(result.entries.map((e) => [e.path, e.dataOffset, e.size])).toEqual([
      ['cosi-marker', 512, 0],
      ['metadata.json', 1024, 2],
      ['images/a', 2048, 600],
    ]);
    expect(result.end).toBe('double-zero');
    expect(result.endOffset).toBe(3072);
  });

  it('stops at the first zero block, as tar-rs does, and ignores what follows', async () => {
    const bytes = buildTar([{ name: 'a', data: 'x' }], { endBlocks: 1, trailer: buildTar([{ name: 'b' }]) });
    const result = await index(bytes);
    expect(result.entries.map((e) => e.path)).toEqual(['a']);
    expect(result.end).toBe('single-zero');
  });

  it('accepts an archive that ends without a marker on a block boundary', async () => {
    const result = await index(buildTar([{ name: 'a', data: 'x' }], { endBlocks: 0 }));
    expect(result.end).toBe('eof');
    expect(result.entries).toHaveLength(1);
  });

  it('merges PAX path and size records into the next member', async () => {
    const long = `images/${'d'.repeat(120)}/root.raw.zst`;
    const result = await index(buildTar([{ name: 'short', data: 'abc', pax: { path: long } }]));
    expect(result.entries[0]).toMatchObject({
      path: long,
      rawName: long,
      size: 3,
      extended: true,
      headerOffset: 0,
      dataOffset: 1536,
    });
  });

  it('merges GNU long names', async () => {
    const long = `images/${'n'.repeat(150)}`;
    const result = await index(buildTar([{ name: long.slice(0, 99), data: 'z', gnuLongName: long }]));
    expect(result.entries[0]?.path).toBe(long);
  });

  it('strips a leading ./ and compares paths by components, keeping the raw name', async () => {
    const result = await index(buildTar([{ name: './images//a/' }]));
    expect(result.entries[0]).toMatchObject({ path: 'images/a', rawName: './images//a/' });
  });

  it('rejects duplicate paths, also when spelled differently', async () => {
    await expectCode(buildTar([{ name: 'images/a' }, { name: './images/a' }]), 'COSI_TAR_DUPLICATE_PATH');
  });

  it('rejects names that escape the archive root', async () => {
    await expectCode(buildTar([{ name: '/etc/passwd' }]), 'COSI_TAR_UNSAFE_PATH');
    await expectCode(buildTar([{ name: 'images/../../x' }]), 'COSI_TAR_UNSAFE_PATH');
  });

  it('rejects GNU sparse members', async () => {
    await expectCode(buildTar([{ name: 'images/a', typeflag: 'S' }]), 'COSI_TAR_SPARSE_UNSUPPORTED');
    await expectCode(
      buildTar([{ name: 'images/a', pax: { 'GNU.sparse.major': '1' } }]),
      'COSI_TAR_SPARSE_UNSUPPORTED',
    );
  });

  it('verifies header checksums', async () => {
    await expectCode(buildTar([{ name: 'a', badChecksum: true }]), 'COSI_TAR_CHECKSUM');
  });

  it('reports members whose data runs past the end of the file', async () => {
    await expectCode(
      buildTar([{ name: 'a', data: 'x', sizeField: 1_000_000 }], { endBlocks: 0 }),
      'COSI_TAR_TRUNCATED',
    );
    await expectCode(buildTar([{ name: 'a' }], { endBlocks: 0 }).subarray(0, 300), 'COSI_TAR_TRUNCATED');
  });

  it('records links and directories with their types', async () => {
    const result = await index(
      buildTar([
        { name: 'images', typeflag: '5' },
        { name: 'images/l', typeflag: '2' },
      ]),
    );
    expect(result.entries.map((e) => e.type)).toEqual(['directory', 'symlink']);
  });
});
