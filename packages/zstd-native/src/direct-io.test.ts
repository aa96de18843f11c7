import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createImageWriter, type ImageWriterOptions } from './index.ts';
import { chunks, image, zstd } from './test-support/fixtures.ts';
import { WRITE_MODE_ENV, writeModeOverride } from './write-mode.ts';

const EXT4_MAGIC = 0xef53;
const TMPFS_MAGIC = 0x01021994;

async function writeAll(options: ImageWriterOptions, input: Uint8Array) {
  const w = await createImageWriter(options);
  for (const c of chunks(input, 65_536)) await w.write(c);
  return w.finish();
}

/** A scratch directory on a file system of the given type, or undefined. */
function scratch(parent: string, magic: number): { dir: string; [Symbol.dispose](): void } | undefined {
  if (!fs.existsSync(parent) || fs.statfsSync(parent).type !== magic) return undefined;
  const dir = fs.mkdtempSync(path.join(parent, 'zstd-direct-'));
  return { dir, [Symbol.dispose]: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Whether `dir`'s file system accepts O_DIRECT opens (tmpfs does since Linux 6.6). */
function acceptsODirect(dir: string): boolean {
  const probe = path.join(dir, 'probe');
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

// 3 MiB + 777 bytes: not a multiple of 4096, and three 1 MiB buffers plus a short one.
const data = image((3 << 20) + 777, 5);
const z = zstd(data, 3);
const FILL = 0x5a;

/** Writes `data` at `offset` into a file pre-filled with FILL (so stray writes show), returns it. */
async function writeInto(file: string, offset: number, extra: Partial<ImageWriterOptions>) {
  if (!extra.sparse) fs.writeFileSync(file, Buffer.alloc(offset + data.length + 8192, FILL));
  const r = await writeAll(
    {
      target: { path: file, create: true, offset, length: data.length },
      expected: { uncompressedSize: data.length },
      bufferSize: 1 << 20,
      ...extra,
    },
    z,
  );
  return { r, bytes: fs.readFileSync(file) };
}

describe('directIo (O_DIRECT on the buffered decoder)', () => {
  const ext4 = scratch('/var/tmp', EXT4_MAGIC);
  afterEach(() => {
    delete process.env[WRITE_MODE_ENV];
  });

  describe.each([0, 1000, 4096 + 123, 1 << 20])('at offset %d', (offset) => {
    it.each([false, true])('writes the same bytes as the buffered path (sparse: %s)', async (sparse) => {
      if (!ext4) {
        console.log('skipped: /var/tmp is not ext4, no file system known to accept O_DIRECT');
        return;
      }
      const buffered = await writeInto(path.join(ext4.dir, 'buffered.img'), offset, { sparse });
      const direct = await writeInto(path.join(ext4.dir, 'direct.img'), offset, { sparse, directIo: true });
      expect(buffered.r.directIo).toBe(false);
      expect(direct.r.directIo).toBe(true);
      // Only the image's unaligned head and tail went through the page cache (and, sparse, the
      // zero blocks were not written at all).
      const head = (4096 - (offset % 4096)) % 4096;
      const end = offset + data.length;
      const aligned = data.length - head - (end % 4096);
      if (sparse) expect(direct.r.directBytes).toBeLessThan(aligned);
      else expect(direct.r.directBytes).toBe(aligned);
      expect(direct.bytes.equals(buffered.bytes)).toBe(true);
      expect(direct.bytes.subarray(offset, end).equals(data)).toBe(true);
    });
  });

  it('falls back to buffered writes where O_DIRECT is refused', async () => {
    using tmpfs = scratch('/dev/shm', TMPFS_MAGIC);
    let target: string;
    if (tmpfs && !acceptsODirect(tmpfs.dir)) {
      target = path.join(tmpfs.dir, 'direct.img');
    } else {
      // tmpfs accepts O_DIRECT since Linux 6.6; a character device never does.
      console.log(
        tmpfs
          ? 'tmpfs at /dev/shm accepts O_DIRECT on this kernel: showing the fallback on /dev/null'
          : 'no tmpfs at /dev/shm: showing the fallback on /dev/null',
      );
      target = '/dev/null';
    }
    const r = await writeAll(
      {
        target: { path: target, create: target !== '/dev/null' },
        bufferSize: 1 << 20,
        directIo: true,
        sync: target !== '/dev/null',
      },
      z,
    );
    expect(r).toMatchObject({ uncompressedBytes: data.length, directIo: false, directBytes: 0 });
    if (target !== '/dev/null') expect(fs.readFileSync(target).equals(data)).toBe(true);
  });

  it('writes the same bytes on tmpfs when tmpfs accepts O_DIRECT (Linux >= 6.6)', async () => {
    using tmpfs = scratch('/dev/shm', TMPFS_MAGIC);
    if (!tmpfs || !acceptsODirect(tmpfs.dir)) {
      console.log('skipped: no tmpfs at /dev/shm, or it refuses O_DIRECT (covered by the fallback test)');
      return;
    }
    const direct = await writeInto(path.join(tmpfs.dir, 'direct.img'), 1000, { directIo: true });
    expect(direct.r.directIo).toBe(true);
    expect(direct.bytes.subarray(1000, 1000 + data.length).equals(data)).toBe(true);
    expect(direct.bytes.subarray(0, 1000).every((b) => b === FILL)).toBe(true);
  });

  it('is ignored when the in-place decoder maps the target', async () => {
    if (!ext4) return;
    const file = path.join(ext4.dir, 'inplace.img');
    fs.writeFileSync(file, Buffer.alloc(data.length));
    const fd = fs.openSync(file, 'r+');
    try {
      const r = await writeAll(
        { target: { fd, length: data.length }, inPlace: true, directIo: true, bufferSize: 1 << 20 },
        z,
      );
      expect(r.directIo).toBe(false);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(file).equals(data)).toBe(true);
  });

  it(`${WRITE_MODE_ENV} overrides the caller's inPlace and directIo`, async () => {
    expect(writeModeOverride()).toBeUndefined();
    process.env[WRITE_MODE_ENV] = 'direct';
    expect(writeModeOverride()).toEqual({ inPlace: false, directIo: true });
    process.env[WRITE_MODE_ENV] = 'in-place';
    expect(writeModeOverride()).toEqual({ inPlace: true, directIo: false });
    process.env[WRITE_MODE_ENV] = 'sideways';
    await expect(createImageWriter({ target: { path: '/dev/null' } })).rejects.toMatchObject({
      code: 'ZSTD_INVALID_OPTION',
    });
  });
});
