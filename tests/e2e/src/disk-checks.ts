import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';

export const exec = promisify(execFile);

/** SHA-256 of a byte range of a file or device (for comparing partitions without copies). */
export async function hashRange(path: string, offset: number, length: number): Promise<string> {
  const handle = await open(path, 'r');
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  try {
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(
        buffer,
        0,
        Math.min(buffer.length, length - done),
        offset + done,
      );
      if (bytesRead === 0) throw new Error(`${path}: short read at ${offset + done}`);
      hash.update(buffer.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Whether the primary (LBA 1) or backup (last LBA) GPT header signature is on a disk. */
export async function gptSignatures(
  path: string,
  size: number,
  lbaSize = 512,
): Promise<{ primary: boolean; backup: boolean }> {
  const handle = await open(path, 'r');
  try {
    const read = async (at: number) => {
      const buffer = Buffer.alloc(8);
      await handle.read(buffer, 0, 8, at);
      return buffer.toString('latin1') === 'EFI PART';
    };
    return { primary: await read(lbaSize), backup: await read(size - lbaSize) };
  } finally {
    await handle.close();
  }
}

/** `sgdisk -v`: true when it reports no problems. */
export async function sgdiskClean(path: string): Promise<{ ok: boolean; output: string }> {
  const { stdout } = await exec('sgdisk', ['-v', path]).catch((e: { stdout?: string }) => ({
    stdout: e.stdout ?? '',
  }));
  return { ok: stdout.includes('No problems found'), output: stdout };
}

/** Copies a byte range into its own file (for e2fsck/debugfs, which work on whole images). */
export async function extractRange(path: string, offset: number, length: number, out: string): Promise<void> {
  await exec('dd', [
    `if=${path}`,
    `of=${out}`,
    'bs=1M',
    `skip=${offset}`,
    `count=${length}`,
    'iflag=skip_bytes,count_bytes',
    'conv=sparse',
    'status=none',
  ]);
}

/** `debugfs -R "cat PATH"` on an ext image. */
export async function debugfsCat(image: string, path: string): Promise<string> {
  const { stdout } = await exec('debugfs', ['-R', `cat ${path}`, image], {
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'latin1',
  });
  return stdout;
}
