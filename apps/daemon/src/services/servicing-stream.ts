/** The response stream shared by servicing RPCs: Started, Log*, exactly one Completed, then OK. */
import type { HandlerContext } from '@connectrpc/connect';
import type { ServicingResponse } from '../gen/trident/v1/servicing_pb.ts';
import type { Logger } from '../logger.ts';
import type { OperationSpec, ServicingManager } from '../servicing-manager.ts';
import { completedResponse, logResponse, startedResponse } from '../wire.ts';

export interface StreamContext {
  manager: ServicingManager;
  logger: Logger;
  cancelOnDisconnect: boolean;
}

export async function* servicingStream(
  context: StreamContext,
  spec: OperationSpec,
  ctx: HandlerContext,
): AsyncGenerator<ServicingResponse> {
  context.logger.info(`Received servicing request '${spec.name}'`);
  // Throws UNAVAILABLE before anything is sent, so the client gets a plain gRPC status.
  const operation = context.manager.start(spec);
  const onDisconnect = () => {
    if (!context.cancelOnDisconnect) return;
    context.logger.warn('client disconnected; cancelling the operation', {
      operation: spec.name,
      id: operation.id,
    });
    operation.abort.abort(new Error('The client disconnected.'));
  };
  let completed = false;
  ctx.signal.addEventListener('abort', onDisconnect, { once: true });
  try {
    yield startedResponse();
    for await (const item of operation.queue.drain(ctx.signal)) {
      if (item.kind === 'log') yield logResponse(item.log);
      else {
        completed = true;
        yield completedResponse(item.completed);
      }
    }
  } finally {
    ctx.signal.removeEventListener('abort', onDisconnect);
    if (!completed) {
      operation.queue.detach();
      if (!operation.abort.signal.aborted)
        context.logger.warn('client went away; the operation keeps running', {
          operation: spec.name,
          id: operation.id,
        });
    }
  }
}
