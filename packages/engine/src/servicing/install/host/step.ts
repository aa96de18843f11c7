import { wrapStep } from '../../../errors.ts';
import type { RunSession } from '../../phases/run-session.ts';

/** One logged host step: stops when the run is aborted, failures carry the step's subkind. */
export async function step<T>(
  session: RunSession,
  subkind: string,
  what: string,
  body: () => Promise<T>,
): Promise<T> {
  session.signal.throwIfAborted();
  session.log('info', what);
  try {
    return await body();
  } catch (error) {
    throw wrapStep('SERVICING_ERROR', subkind, `${what} failed`, error);
  }
}
