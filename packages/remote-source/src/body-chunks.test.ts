import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { bodyChunks, type ResponseBody } from './body-chunks.ts';

/** A body that delivers `count` chunks of `size` bytes as fast as it is allowed to. */
function fastBody(count: number, size: number, highWaterMark = 64 * 1024) {
  const sent: Uint8Array[] = [];
  let pushed = 0;
  const body = new Readable({
    highWaterMark,
    read() {
      while (pushed < count) {
        const chunk = Buffer.alloc(size, pushed % 251);
        sent.push(chunk);
        pushed++;
        if (!this.push(chunk)) return;
      }
      this.push(null);
    },
  });
  return { body: body as unknown as ResponseBody, sent, readable: body };
}

describe('bodyChunks', () => {
  it('yields the very chunks the body delivered, never a concatenation, to a slow consumer', async () => {
    // Four chunks fit the body's buffer: its own iterator's read() would hand them over joined.
    const { body, sent } = fastBody(40, 16 * 1024);
    const got: Uint8Array[] = [];
    for await (const chunk of bodyChunks(body, 256 * 1024)) {
      got.push(chunk);
      await sleep(1); // a consumer slower than the network: the stream's own iterator concatenates here
    }
    expect(got.length).toBe(40);
    expect(got.every((chunk, i) => chunk === sent[i])).toBe(true);
  });

  it('keeps at most the read-ahead budget queued (plus the body buffer) while the consumer waits', async () => {
    const { body, sent, readable } = fastBody(200, 16 * 1024, 16 * 1024);
    const iterator = bodyChunks(body, 64 * 1024);
    const first = await iterator.next();
    expect(first.done).toBe(false);
    await sleep(50); // the consumer is busy: the body must pause, not read all 3.2 MB
    const delivered = sent.length * 16 * 1024;
    expect(delivered).toBeLessThanOrEqual(64 * 1024 + 16 * 1024 + 2 * 16 * 1024);
    expect(readable.isPaused()).toBe(true);
    let total = first.value!.length;
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      total += next.value.length;
    expect(total).toBe(200 * 16 * 1024);
  });

  it('throws the error the body is destroyed with, after the bytes that arrived before it', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.from('abc'));
    setTimeout(() => body.destroy(new Error('connection reset by peer')), 5);
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of bodyChunks(body as unknown as ResponseBody))
          got.push(Buffer.from(chunk).toString());
      })(),
    ).rejects.toThrow('connection reset by peer');
    expect(got).toEqual(['abc']);
  });

  it('reports a body closed before its end as a premature close', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.from('partial'));
    setTimeout(() => body.destroy(), 5);
    await expect(
      (async () => {
        for await (const _ of bodyChunks(body as unknown as ResponseBody));
      })(),
    ).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('leaves no listener behind when the consumer stops early', async () => {
    const { body, readable } = fastBody(50, 1024);
    for await (const _ of bodyChunks(body)) break;
    expect(readable.listenerCount('data')).toBe(0);
    readable.destroy();
  });
});
