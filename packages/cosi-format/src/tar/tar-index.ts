import type { ByteSource } from '../byte-source.ts';
import { CosiError } from '../errors.ts';
import { BLOCK, isZeroBlock, parsePaxRecords, parseTarHeader, type RawTarHeader } from './header.ts';

export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'directory'
  | 'char-device'
  | 'block-device'
  | 'fifo'
  | 'pax-global'
  | 'other';

/** One member of the archive, with extension headers already merged in. */
export interface TarEntry {
  /** Normalised path: no leading `./`, no empty or `.` components, no trailing `/`. */
  path: string;
  /** The name exactly as the archive stores it (after PAX/GNU long-name merging). */
  rawName: string;
  type: TarEntryType;
  /** Offset of the first header block of this member (extension headers included). */
  headerOffset: number;
  /** Offset of the member's content bytes. */
  dataOffset: number;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  format: RawTarHeader['format'];
  /** True when PAX or GNU long-name headers precede this member. */
  extended: boolean;
}

export interface TarIndex {
  entries: TarEntry[];
  byPath: ReadonlyMap<string, TarEntry>;
  /** Offset of the first end-of-archive block (or of the end of the file when there is none). */
  endOffset: number;
  /**
   * How the archive ends: two zero blocks (standard), one zero block (tar-rs, and so Trident, stop
   * at the first), or no marker at all (the file simply ends on a block boundary).
   */
  end: 'double-zero' | 'single-zero' | 'eof';
}

export interface TarIndexOptions {
  signal?: AbortSignal;
}

/** GNU long-name and PAX data are held in memory; real ones are tiny. */
const MAX_EXTENSION_DATA = 1024 * 1024;
const READAHEAD = 16 * 1024;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  g: 'pax-global',
};

/**
 * Normalises a member name the way Trident compares paths (by components, one leading `./`
 * stripped) and refuses names that could escape a directory.
 */
export function normalizeMemberPath(rawName: string, at: number): string {
  if (rawName.startsWith('/')) {
    throw new CosiError(
      'COSI_TAR_UNSAFE_PATH',
      `tar member "${rawName}" at offset ${at} has an absolute path`,
      {
        offset: at,
        member: rawName,
      },
    );
  }
  const parts = rawName.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new CosiError(
      'COSI_TAR_UNSAFE_PATH',
      `tar member "${rawName}" at offset ${at} contains a ".." component`,
      {
        offset: at,
        member: rawName,
      },
    );
  }
  if (parts.length === 0) {
    throw new CosiError('COSI_TAR_HEADER_INVALID', `tar member at offset ${at} has an empty name`, {
      offset: at,
    });
  }
  return parts.join('/');
}

/** Reads header blocks through a small read-ahead window, so remote sources need few requests. */
class BlockReader {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  private readonly source: ByteSource;
  private readonly signal: AbortSignal | undefined;

  constructor(source: ByteSource, signal: AbortSignal | undefined) {
    this.source = source;
    this.signal = signal;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.windowStart && offset + length <= this.windowStart + this.window.length) {
      return this.window.subarray(offset - this.windowStart, offset - this.windowStart + length);
    }
    const wanted = Math.min(Math.max(length, READAHEAD), this.source.size - offset);
    const options = this.signal ? { signal: this.signal } : {};
    this.window = await this.source.read(offset, wanted, options);
    this.windowStart = offset;
    return this.window.subarray(0, length);
  }
}

function roundUp(value: number): number {
  return Math.ceil(value / BLOCK) * BLOCK;
}

/**
 * Indexes a tar archive from a random-access source, header by header, without reading member
 * contents. Follows tar-rs (Trident's reader) where the formats allow a choice: stops at the first
 * zero block, merges GNU `L`/`K` and PAX `x` headers into the next member, verifies every header
 * checksum. Refuses GNU sparse members (their offsets cannot be used as images), duplicate paths,
 * and names with `..` or a leading `/`.
 */
export async function readTarIndex(source: ByteSource, options: TarIndexOptions = {}): Promise<TarIndex> {
  const reader = new BlockReader(source, options.signal);
  const entries: TarEntry[] = [];
  const byPath = new Map<string, TarEntry>();
  let offset = 0;
  let pendingLongName: string | undefined;
  let pendingLongLink: string | undefined;
  let pendingPax: Map<string, string> | undefined;
  let memberStart = 0;

  const truncated = (at: number, what: string): CosiError =>
    new CosiError('COSI_TAR_TRUNCATED', `${source.url}: archive ends inside ${what} at offset ${at}`, {
      offset: at,
    });

  while (true) {
    options.signal?.throwIfAborted();
    if (offset === source.size) {
      if (pendingLongName !== undefined || pendingLongLink !== undefined || pendingPax !== undefined) {
        throw truncated(offset, 'an extension header with no member after it');
      }
      return { entries, byPath, endOffset: offset, end: 'eof' };
    }
    if (offset + BLOCK > source.size) throw truncated(offset, 'a header block');
    const block = await reader.read(offset, BLOCK);
    if (isZeroBlock(block)) {
      const second = offset + 2 * BLOCK <= source.size ? await reader.read(offset + BLOCK, BLOCK) : undefined;
      return {
        entries,
        byPath,
        endOffset: offset,
        end: second && isZeroBlock(second) ? 'double-zero' : 'single-zero',
      };
    }
    const header = parseTarHeader(block, offset);
    const dataOffset = offset + BLOCK;
    if (dataOffset + header.size > source.size) {
      throw truncated(
        source.size,
        `the data of member "${header.name}" (needs ${header.size} bytes at ${dataOffset})`,
      );
    }
    const nextOffset = dataOffset + roundUp(header.size);
    if (pendingLongName === undefined && pendingLongLink === undefined && pendingPax === undefined) {
      memberStart = offset;
    }

    const readExtension = async (what: string): Promise<Uint8Array> => {
      if (header.size > MAX_EXTENSION_DATA) {
        throw new CosiError(
          'COSI_TAR_EXTENSION_INVALID',
          `${what} at offset ${offset} is ${header.size} bytes; at most ${MAX_EXTENSION_DATA} are accepted`,
          { offset },
        );
      }
      return reader.read(dataOffset, header.size);
    };
    const once = (already: unknown, what: string): void => {
      if (already !== undefined) {
        throw new CosiError(
          'COSI_TAR_EXTENSION_INVALID',
          `two ${what} headers for one member at offset ${offset}`,
          {
            offset,
          },
        );
      }
    };

    switch (header.typeflag) {
      case 'L': {
        once(pendingLongName, 'GNU long-name');
        const data = await readExtension('GNU long name');
        const nul = data.indexOf(0);
        pendingLongName = new TextDecoder().decode(nul === -1 ? data : data.subarray(0, nul));
        offset = nextOffset;
        continue;
      }
      case 'K': {
        once(pendingLongLink, 'GNU long-link');
        const data = await readExtension('GNU long link');
        const nul = data.indexOf(0);
        pendingLongLink = new TextDecoder().decode(nul === -1 ? data : data.subarray(0, nul));
        offset = nextOffset;
        continue;
      }
      case 'x': {
        once(pendingPax, 'PAX extended');
        pendingPax = parsePaxRecords(await readExtension('PAX extended header'), offset);
        offset = nextOffset;
        continue;
      }
      case 'S':
        throw new CosiError(
          'COSI_TAR_SPARSE_UNSUPPORTED',
          `tar member "${pendingLongName ?? header.name}" at offset ${offset} is a GNU sparse file; COSI images must be stored whole`,
          { offset, member: header.name },
        );
      default:
        break;
    }

    if (pendingPax && [...pendingPax.keys()].some((key) => key.startsWith('GNU.sparse.'))) {
      throw new CosiError(
        'COSI_TAR_SPARSE_UNSUPPORTED',
        `tar member at offset ${offset} is a PAX sparse file; COSI images must be stored whole`,
        { offset },
      );
    }

    const rawName = pendingPax?.get('path') ?? pendingLongName ?? header.name;
    let size = header.size;
    const paxSize = pendingPax?.get('size');
    if (paxSize !== undefined) {
      if (!/^\d+$/u.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) {
        throw new CosiError(
          'COSI_TAR_EXTENSION_INVALID',
          `PAX size "${paxSize}" for "${rawName}" is not a number`,
          {
            offset,
          },
        );
      }
      size = Number(paxSize);
      if (dataOffset + size > source.size) {
        throw truncated(
          source.size,
          `the data of member "${rawName}" (needs ${size} bytes at ${dataOffset})`,
        );
      }
    }
    const entry: TarEntry = {
      path: normalizeMemberPath(rawName, offset),
      rawName,
      type: TYPES[header.typeflag] ?? 'other',
      headerOffset: memberStart,
      dataOffset,
      size,
      mode: header.mode,
      uid: Number(pendingPax?.get('uid') ?? header.uid),
      gid: Number(pendingPax?.get('gid') ?? header.gid),
      mtime: header.mtime,
      linkname: pendingPax?.get('linkpath') ?? pendingLongLink ?? header.linkname,
      format: header.format,
      extended: pendingPax !== undefined || pendingLongName !== undefined || pendingLongLink !== undefined,
    };
    pendingPax = undefined;
    pendingLongName = undefined;
    pendingLongLink = undefined;

    if (byPath.has(entry.path)) {
      throw new CosiError(
        'COSI_TAR_DUPLICATE_PATH',
        `${source.url}: found more than one member with path "${entry.path}" (second at offset ${entry.headerOffset})`,
        { offset: entry.headerOffset, member: entry.path },
      );
    }
    entries.push(entry);
    byPath.set(entry.path, entry);
    offset = dataOffset + roundUp(size);
  }
}
