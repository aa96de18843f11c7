/**
 * trident.v1preview.RollbackService over the engine's manual rollback (`rollbackHost`, the chain
 * queries) on the daemon's datastore (`--datastore`). Upstream's RPCs are stubs; these follow the
 * proto's intent and upstream's `trident rollback` / `trident get rollback-chain|rollback-target`:
 *
 * - CheckRollback: what a rollback of the requested kind would undo (`rollback --check`);
 * - GetRollbackChain: the chain, newest first, each item as the YAML `get rollback-chain` prints
 *   for it (kind, spec, abActiveVolume, installIndex); GetRollbackTarget: the Host Configuration
 *   the next rollback restores, as YAML, absent when there is none;
 * - Rollback / RollbackStage / RollbackFinalize: `rollback` with both operations, stage only
 *   (which may not reboot: upstream's RebootDecision::Error) and finalize only.
 *
 * The read RPCs answer UNAVAILABLE "Servicing is active" while an operation runs, as StatusService.
 */
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { toYaml } from '@trident/datastore';
import type { AllowedOperations, RollbackCheck, RollbackOutcome, RollbackRequest } from '@trident/engine';
import type { EngineApi } from '../engine-api.ts';
import { ServicingKind } from '../gen/trident/v1/servicing_pb.ts';
import {
  CheckRollbackKind,
  ManualRollbackKind,
  type RollbackService,
} from '../gen/trident/v1preview/rollback_service_pb.ts';
import type { OperationSpec, ServicingManager, TaskResult } from '../servicing-manager.ts';
import type { RebootDecision } from '../wire.ts';
import { rebootDecision } from '../wire.ts';
import { type StreamContext, servicingStream } from './servicing-stream.ts';
import { engineErrorStatus } from './status.ts';

/** The wire's kind → the engine's selection; an enum number this proto does not define is refused. */
export function rollbackRequestOf(kind: ManualRollbackKind): RollbackRequest {
  switch (kind) {
    case ManualRollbackKind.MANUAL_ROLLBACK_KIND_UNSPECIFIED:
    case ManualRollbackKind.ANY_ROLLBACK_REQUESTED:
      return 'next';
    case ManualRollbackKind.AB_ROLLBACK_REQUESTED:
      return 'ab';
    case ManualRollbackKind.RUNTIME_ROLLBACK_REQUESTED:
      return 'runtime';
    default:
      throw new ConnectError(
        `Unknown rollback kind ${kind}: expected ANY_ROLLBACK_REQUESTED (1), AB_ROLLBACK_REQUESTED (2) or RUNTIME_ROLLBACK_REQUESTED (3)`,
        Code.InvalidArgument,
      );
  }
}

const CHECK_KIND: Record<RollbackCheck, CheckRollbackKind> = {
  none: CheckRollbackKind.NO_ROLLBACK_AVAILABLE,
  ab: CheckRollbackKind.AB_ROLLBACK_EXPECTED,
  runtime: CheckRollbackKind.RUNTIME_ROLLBACK_EXPECTED,
};

/** What a rollback did, as a servicing result: its kind, and a reboot when the other volume boots next. */
function rollbackResult(outcome: RollbackOutcome): TaskResult {
  switch (outcome.result) {
    case 'nothing-to-do':
      return { status: 'success', rebootRequired: false, servicingKind: ServicingKind.NONE_REQUIRED };
    case 'staged':
      return {
        status: 'success',
        rebootRequired: false,
        servicingKind:
          outcome.kind === 'ab' ? ServicingKind.MANUAL_ROLLBACK_AB : ServicingKind.MANUAL_ROLLBACK_RUNTIME,
      };
    case 'finalized':
      return outcome.kind === 'ab'
        ? {
            status: 'success',
            rebootRequired: outcome.needsReboot,
            servicingKind: ServicingKind.MANUAL_ROLLBACK_AB,
          }
        : { status: 'success', rebootRequired: false, servicingKind: ServicingKind.MANUAL_ROLLBACK_RUNTIME };
  }
}

export function createRollbackService(
  context: StreamContext,
  manager: ServicingManager,
  loadEngine: () => Promise<EngineApi>,
  datastorePath: string,
): ServiceImpl<typeof RollbackService> {
  /** A read of the chain: refused while servicing runs; engine failures become gRPC statuses. */
  const read = async <T>(body: (engine: EngineApi) => T): Promise<T> => {
    if (manager.current !== undefined) throw new ConnectError('Servicing is active', Code.Unavailable);
    const engine = await loadEngine();
    try {
      return body(engine);
    } catch (error) {
      throw engineErrorStatus(engine.toTridentError(error));
    }
  };

  const rollback = (
    name: string,
    request: RollbackRequest,
    allowedOperations: AllowedOperations,
    reboot: RebootDecision,
  ): OperationSpec => ({
    name,
    reboot,
    task: async (engine, session): Promise<TaskResult> => {
      try {
        const outcome = await engine.rollbackHost({
          datastorePath,
          request,
          operations: allowedOperations,
          log: session.log,
          signal: session.signal,
        });
        if (outcome.result === 'nothing-to-do') session.log('info', `No rollback: ${outcome.reason}`);
        return rollbackResult(outcome);
      } catch (error) {
        return { status: 'failure', error: engine.toTridentError(error) };
      }
    },
  });

  return {
    async checkRollback(request) {
      const selection = rollbackRequestOf(request.kind);
      const check = await read((engine) => engine.checkRollback({ datastorePath, request: selection }));
      return { kind: CHECK_KIND[check] };
    },
    async getRollbackChain() {
      const chain = await read((engine) => engine.rollbackChainDocuments({ datastorePath }));
      return { rollbackChain: chain.map((item) => toYaml(item)) };
    },
    async getRollbackTarget() {
      const chain = await read((engine) => engine.rollbackChainDocuments({ datastorePath }));
      const spec = chain[0]?.['spec'];
      return spec === undefined ? {} : { rollbackTarget: toYaml(spec) };
    },
    async *rollback(request, ctx) {
      const selection = rollbackRequestOf(request.kind);
      yield* servicingStream(
        context,
        rollback(
          'rollback',
          selection,
          { stage: true, finalize: true },
          rebootDecision(request.finalize?.reboot),
        ),
        ctx,
      );
    },
    async *rollbackStage(request, ctx) {
      const selection = rollbackRequestOf(request.kind);
      yield* servicingStream(
        context,
        rollback('rollback_stage', selection, { stage: true, finalize: false }, 'error'),
        ctx,
      );
    },
    async *rollbackFinalize(request, ctx) {
      yield* servicingStream(
        context,
        rollback(
          'rollback_finalize',
          'next',
          { stage: false, finalize: true },
          rebootDecision(request.reboot),
        ),
        ctx,
      );
    },
  };
}
