import type { ServicingKind } from '../kind.ts';
import { deploy } from '../phases/deploy.ts';
import { planStreamDisk, type StreamDiskContext } from './plan-stream-disk.ts';
import type { StreamDiskRequest } from './request.ts';

/**
 * stream-disk: the COSI's own GPT and partition images onto one disk (or disk-image file). The run
 * is the shared deployment with the image's table: wipe, write and verify every image, GPT last,
 * re-read, grow.
 */
export const streamDisk: ServicingKind<StreamDiskRequest, StreamDiskContext> = {
  kind: 'stream-disk',
  logTarget: 'trident::engine::stream_disk',
  plan: planStreamDisk,
  run: (plan, context, session) =>
    deploy(plan, { reader: context.reader, layouts: [context.layout], protect: context.protect }, session),
  discard: (context) => context.reader.close(),
};
