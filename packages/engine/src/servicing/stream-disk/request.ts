import type { CommonRequestOptions, TargetRequest } from '../../types.ts';

/** Writes a COSI (≥ 1.2) to one disk with the image's own partition layout, as Trident's `stream-disk`. */
export interface StreamDiskRequest extends CommonRequestOptions {
  kind: 'stream-disk';
  /** COSI location: path, file://, http(s)://, oci://. */
  url: string;
  /** Expected metadata hash: `ignored` (default) or `sha384:<hex>` (cosi-format `parseSha384Spec`). */
  sha384?: string;
  target?: TargetRequest;
  /** Grow shrunk ext filesystems to fill their partitions (default true; Trident's stream-disk does not). */
  resize?: boolean;
}
