import { createNodeZstdCodec, type ZstdDecompressOptions } from './writer/codec.ts';

/**
 * Decoding seam. The default uses Node's built-in zstd (Node ≥ 22.15) through a frame splitter:
 * Node's decoder stops after the first frame and yields nothing after a leading skippable frame,
 * while COSI images may hold many frames (seekable format) and Image Customizer prepends a
 * skippable frame to every image. The frames are walked by `@trident/zstd-native`, whose native
 * codec is a faster decoder of this shape.
 */
export interface ZstdDecoder {
  readonly name: string;
  decompress(input: AsyncIterable<Uint8Array>, options: ZstdDecompressOptions): AsyncIterable<Uint8Array>;
}

export const nodeZlibDecoder: ZstdDecoder = createNodeZstdCodec();
