import { type FileHandle, lstat, unlink } from 'node:fs/promises';
import type { BlockTarget, CloseOptions } from './block-target.ts';
import { BlockWriterError, describeCause } from './errors.ts';
import type { FileIdentity } from './file-identity.ts';
import type { TargetLock } from './target-lock.ts';

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
  readonly created: boolean;
  #handle: FileHandle;
  #closed = false;
  #identity: FileIdentity | undefined;
  /** File targets: the flock and the exclusive claims on loop devices backed by the file. */
  #holds: Array<{ release(): Promise<void> }>;

  constructor(
    handle: FileHandle,
    init: {
      path: string;
      kind: 'block-device' | 'file';
      kernelName: string | undefined;
      size: number;
      sectorSize: number;
      created?: boolean;
      identity?: FileIdentity;
      holds?: Array<{ release(): Promise<void> }>;
    },
  ) {
    this.#handle = handle;
    this.path = init.path;
    this.kind = init.kind;
    this.kernelName = init.kernelName;
    this.size = init.size;
    this.sectorSize = init.sectorSize;
    this.created = init.created ?? false;
    this.#identity = init.identity;
    this.#holds = init.holds ?? [];
  }

  async identity(): Promise<FileIdentity> {
    if (this.#identity === undefined) {
      const info = await this.#handle.stat({ bigint: true });
      this.#identity = { dev: info.dev, ino: info.ino };
    }
    return this.#identity;
  }

  get locked(): boolean {
    return this.#holds.length > 0;
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

  async close(options: CloseOptions = {}): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#handle.close();
    }
    if (options.keepLock !== true) await this.unlock();
  }

  async unlock(): Promise<void> {
    const holds = this.#holds;
    this.#holds = [];
    for (const hold of holds.reverse()) await hold.release().catch(() => undefined);
  }

  async discardCreated(): Promise<boolean> {
    await this.close({ keepLock: true });
    let removed = false;
    try {
      // Only the file this call created: not whatever may have been put at the path since.
      const now = await lstat(this.path, { bigint: true });
      const mine = this.#identity;
      if (
        this.created &&
        mine !== undefined &&
        now.isFile() &&
        now.dev === mine.dev &&
        now.ino === mine.ino
      ) {
        await unlink(this.path);
        removed = true;
      }
    } catch {
      // already gone
    }
    await this.unlock();
    return removed;
  }
}

/** A lock-like hold on one extra open descriptor (an exclusive claim on a loop device). */
export function holdHandle(handle: FileHandle): TargetLock {
  let released = false;
  return {
    path: '',
    async release() {
      if (released) return;
      released = true;
      await handle.close();
    },
  };
}
