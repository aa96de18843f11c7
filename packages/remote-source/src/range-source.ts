import { discard } from './body-limit.ts';
import { formatRange, parseContentRange } from './content-range.ts';
import { publish } from './diagnostics.ts';
import { RemoteSourceError } from './errors.ts';
import { header, type SendResponse } from './http-client.ts';
import { digestHasher } from './http-object.ts';
import { HttpObjectSource } from './http-object-source.ts';
import { TransientFailure } from './retry.ts';
import { watchThroughput } from './throughput.ts';
import type { ReadOptions } from './types.ts';

/**
 * Random access over HTTP Range requests. One GET per `stream()` call for the whole remaining
 * range (as Trident does), resumed from the first missing byte after any fault, every response
 * checked: 206 with a matching Content-Range and the same validator, or a 200 used from byte 0.
 */
export class RangeSource extends HttpObjectSource {
  readonly mode = 'random';

  protected override async *streamRange(
    offset: number,
    length: number,
    options: ReadOptions,
  ): AsyncGenerator<Uint8Array> {
    const object = this.object;
    const end = offset + length;
    const signal = options.signal;
    const whole = object.digest !== undefined && offset === 0 && length === object.size;
    const verify = whole ? digestHasher(object.digest!, object.label) : undefined;
    let position = offset;
    const retry = object.retries('GET', signal, () => position);
    while (position < end) {
      retry.check();
      let response: SendResponse;
      try {
        response = await object.get(formatRange(position, end - 1), signal);
        await this.#accept(response, position, end);
      } catch (err) {
        await retry.fail(err);
        continue;
      }
      let failure: unknown;
      let done = false;
      try {
        const throughput = object.client.options.throughput;
        for await (const received of watchThroughput(response.body, throughput, object.label)) {
          let chunk = received;
          if (chunk.length > end - position) chunk = chunk.subarray(0, end - position);
          position += chunk.length;
          retry.progress(chunk.length);
          verify?.update(chunk);
          // Hold the last chunk back until the digest is checked (whole-blob reads).
          if (position === end) verify?.verify();
          publish.progress({ url: object.label, offset, length, delivered: position - offset });
          yield chunk;
          if (position === end) break;
        }
        done = position === end;
        if (!done)
          failure = new TransientFailure(
            `short body: the response ended at byte ${position}, wanted up to ${end}`,
          );
      } catch (err) {
        if (err instanceof RemoteSourceError) throw err;
        failure = err;
      } finally {
        if (!response.body.destroyed) discard(response.body);
      }
      if (!done) await retry.fail(failure);
    }
  }

  /** Validates a response to `Range: bytes=start-(end-1)`; throws permanent or transient errors. */
  async #accept(response: SendResponse, start: number, end: number): Promise<void> {
    const object = this.object;
    const status = response.status;
    const reject = (error: RemoteSourceError): never => {
      discard(response.body);
      throw error;
    };
    if (status === 206) {
      const raw = header(response.headers, 'content-range');
      const range = parseContentRange(raw);
      const length = header(response.headers, 'content-length');
      if (
        !range ||
        range.start !== start ||
        range.end > end - 1 ||
        (length !== undefined && Number(length) !== range.end - range.start + 1)
      ) {
        reject(
          new RemoteSourceError(
            'REMOTE_BAD_CONTENT_RANGE',
            `GET ${object.label} asked for bytes ${start}-${end - 1} and got 206 with Content-Range ${raw ?? '(none)'}` +
              `${length === undefined ? '' : ` and Content-Length ${length}`}; refusing bytes from the wrong place: fix the server or proxy, or use rangeMode 'sequential'`,
            { url: object.label, status, offset: start },
          ),
        );
      }
      if (range!.total !== undefined && range!.total !== object.size) {
        reject(object.changedError(`size ${object.size} became ${range!.total}`, start, status));
      }
      try {
        object.checkSame(response, start);
      } catch (err) {
        reject(err as RemoteSourceError);
      }
      return;
    }
    if (status === 200) {
      const length = header(response.headers, 'content-length');
      try {
        object.checkSame(response, start);
      } catch (err) {
        reject(err as RemoteSourceError);
      }
      if (
        object.ifRange !== undefined &&
        header(response.headers, 'etag') === undefined &&
        header(response.headers, 'last-modified') === undefined
      ) {
        // If-Range was sent and a full 200 came back with no validator: the object changed or the
        // server ignores ranges; either way these bytes cannot be trusted as the same version.
        reject(
          object.changedError('If-Range did not match and the response has no validator', start, status),
        );
      }
      if (length !== undefined && Number(length) !== object.size) {
        reject(object.changedError(`size ${object.size} became ${length}`, start, status));
      }
      // A 200 carries the object from byte 0: usable only when that is where we wanted to start.
      if (start === 0) return;
      reject(
        new RemoteSourceError(
          'REMOTE_RANGE_IGNORED',
          `GET ${object.label} asked for bytes ${start}-${end - 1} and got 200 with the whole object; the server or a proxy ignores Range: fix it, or use rangeMode 'sequential'`,
          { url: object.label, status, offset: start },
        ),
      );
    }
    if (status === 416) {
      reject(object.changedError('416 Range Not Satisfiable: the object is shorter now', start, status));
    }
    await object.failStatus(response, 'GET');
  }

  override close(): Promise<void> {
    return this.object.close();
  }
}
