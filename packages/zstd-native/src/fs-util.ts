import fs from 'node:fs';

/** Positioned write of part of `b`; resolves with the bytes written (may be short). */
export function pwrite(fd: number, b: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, b, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}
