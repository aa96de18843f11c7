import type { FileHandle } from 'node:fs/promises';
import type { BlockTarget } from './block-target.ts';
import { BlockWriterError, describeCause } from './errors.ts';

/** The one `BlockTarget` implementation: a FileHandle plus bounds checks and coded errors. */
export function validateSectorSize(sectorSize: number, device: string): number {
  if (!Number.isInteger(sectorSize) || sectorSize < 512 || (sectorSize & (sectorSize - 1)) !== 0) {
    throw new BlockWriterError(
      'BLOCK_TARGET_NOT_SUPPORTED',
      `${device}: sector size ${sectorSize} is not a power of two of at least 512; use 512 or 4096.`,
      { device },
    );
  }
  return sectorSize;
}

export class OpenTarget implements BlockTarget {
  readonly path: string;
  readonly kind: 'block-device' | 'file';
  readonly kernelName: string | undefined;
  readonly size: number;
  readonly sectorSize: number;
  #handle: FileHandle;
  #closed = false;

  constructor(
    handle: FileHandle,
    init: {
      path: string;
      kind: 'block-device' | 'file';
      kernelName: string | undefined;
      size: number;
      sectorSize: number;
    },
  ) {
    this.#handle = handle;
    this.path = init.path;
    this.kind = init.kind;
    this.kernelName = init.kernelName;
    this.size = init.size;
    this.sectorSize = init.sectorSize;
  }

  get fd(): number {
    return this.#handle.fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new BlockWriterError(
        'BLOCK_TARGET_CLOSED',
        `${this.path}: the target was already closed; open it again to write.`,
        { device: this.path },
      );
    }
  }

  #checkRange(length: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new BlockWriterError(
        'BLOCK_IO',
        `${this.path}: refusing to access ${length} bytes at offset ${offset}: the target holds ${this.size} bytes.`,
        { device: this.path, offset },
      );
    }
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    this.#checkOpen();
    this.#checkRange(data.byteLength, offset);
    let done = 0;
    try {
      while (done < data.byteLength) {
        const { bytesWritten } = await this.#handle.write(data, done, data.byteLength - done, offset + done);
        if (bytesWritten === 0) throw new Error('write returned 0 bytes');
        done += bytesWritten;
      }
    } catch (cause) {
      throw new BlockWriterError(
        'BLOCK_IO',
        `${this.path}: write of ${data.byteLength} bytes at offset ${offset + done} failed (${describeCause(cause)}); check the device and kernel log.`,
        { device: this.path, offset: offset + done, cause },
      );
    }
  }

  async readAt(length: number, offset: number): Promise<Uint8Array> {
    this.#checkOpen();
    this.#checkRange(length, offset);
    const buffer = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.#handle.read(buffer, done, length - done, offset + done);
        if (bytesRead === 0) throw new Error('unexpected end of device');
        done += bytesRead;
      }
    } catch (cause) {
      throw new BlockWriterError(
        'BLOCK_IO',
        `${this.path}: read of ${length} bytes at offset ${offset + done} failed (${describeCause(cause)}).`,
        { device: this.path, offset: offset + done, cause },
      );
    }
    return buffer;
  }

  async sync(): Promise<void> {
    this.#checkOpen();
    try {
      await this.#handle.sync();
    } catch (cause) {
      throw new BlockWriterError(
        'BLOCK_IO',
        `${this.path}: fsync failed (${describeCause(cause)}); data may not have reached the device.`,
        { device: this.path, cause },
      );
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }
}
