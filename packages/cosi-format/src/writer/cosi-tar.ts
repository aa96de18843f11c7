import { createReadStream } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { encodeTarHeader, paddedLength, TAR_END } from './tar-writer.ts';

export interface TarMember {
  name: string;
  /** Content in memory, or a scratch file to stream. */
  data: Uint8Array | { file: string; size: number };
}

async function writeAll(out: FileHandle, data: Uint8Array, position: number): Promise<number> {
  for (let done = 0; done < data.length; )
    done += (await out.write(data, done, data.length - done, position + done)).bytesWritten;
  return position + data.length;
}

/**
 * Writes a COSI tar: members in the given order, each data block zero-padded, then two zero blocks.
 * The archive is written beside `output` and renamed into place, so a failed build never leaves a
 * truncated file that looks like a COSI.
 */
export async function writeCosiTar(output: string, members: readonly TarMember[]): Promise<number> {
  const partial = `${output}.partial-${process.pid}`;
  const out = await open(partial, 'w');
  let position = 0;
  try {
    for (const member of members) {
      const size = member.data instanceof Uint8Array ? member.data.length : member.data.size;
      position = await writeAll(out, encodeTarHeader({ name: member.name, size }), position);
      if (member.data instanceof Uint8Array) position = await writeAll(out, member.data, position);
      else {
        let copied = 0;
        for await (const chunk of createReadStream(member.data.file, { highWaterMark: 4 * 1024 * 1024 })) {
          position = await writeAll(out, chunk as Buffer, position);
          copied += (chunk as Buffer).length;
        }
        if (copied !== size) throw new Error(`scratch file ${member.data.file} changed size while archiving`);
      }
      position = await writeAll(out, new Uint8Array(paddedLength(size) - size), position);
    }
    position = await writeAll(out, TAR_END, position);
    await out.sync();
  } catch (error) {
    await out.close();
    await rm(partial, { force: true });
    throw error;
  }
  await out.close();
  await rename(partial, output);
  return position;
}
