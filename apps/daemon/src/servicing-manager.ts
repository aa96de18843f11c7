/**
 * One servicing operation at a time. A second request fails fast with UNAVAILABLE, using Trident's
 * two messages: "Trident is busy" while the running operation's client is still attached, and
 * "Servicing is active" once that client went away but the operation still runs.
 *
 * The operation runs independently of the response stream: the stream only drains its events.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import type { EngineEvent, EngineRequest, RunResult, TridentErrorInfo } from '@trident/engine';
import type { EngineApi } from './engine-api.ts';
import { describeError } from './errors.ts';
import { EventQueue } from './event-queue.ts';
import { type Completed, ServicingKind, StatusCode } from './gen/trident/v1/servicing_pb.ts';
import type { Logger } from './logger.ts';
import { createProgressThrottle } from './progress.ts';
import { CompletedSchema, type RebootDecision, RebootStatus, toProtoError, type WireLog } from './wire.ts';

export const ENGINE_MODULE = 'trident::engine';

/** The engine's servicing kinds → the wire's (upstream `From<ServicingType> for ServicingKind`). */
const WIRE_SERVICING_KIND: Record<string, ServicingKind> = {
  'clean-install': ServicingKind.CLEAN_INSTALL,
  'ab-update': ServicingKind.AB_UPDATE,
  'runtime-update': ServicingKind.RUNTIME_UPDATE,
  'manual-rollback-ab': ServicingKind.MANUAL_ROLLBACK_AB,
  'manual-rollback-runtime': ServicingKind.MANUAL_ROLLBACK_RUNTIME,
};

/** Trident's text when a task that may not reboot asks for one (`servicingmgr.rs`). */
export const REBOOT_FORBIDDEN =
  'The servicing task requested a reboot, but this task type should not cause reboots.';

export type OperationItem = { kind: 'log'; log: WireLog } | { kind: 'completed'; completed: Completed };

/** What a task (an operation that is not an engine servicing kind) reports. */
export type TaskResult =
  | {
      status: 'success';
      /** The host must reboot to finish (Trident's ExitKind::NeedsReboot). */
      rebootRequired: boolean;
      /** `sha384:<hex>` or bare hex; absent when unknown. */
      imageHash?: string | undefined;
      servicingKind: ServicingKind;
    }
  | { status: 'failure'; error: TridentErrorInfo };

export interface TaskSession {
  signal: AbortSignal;
  /** Forwarded to the client as a Log message (target `trident::engine` unless given). */
  log: (level: WireLog['level'], message: string, target?: string) => void;
}

/** Commit, rollback: one call into the engine, streamed and reported like a servicing run. */
export type OperationTask = (engine: EngineApi, session: TaskSession) => Promise<TaskResult>;

export type OperationWork =
  /** An engine servicing kind, planned and run (stream-disk, install, update). */
  { request: EngineRequest; task?: never } | { task: OperationTask; request?: never };

export type OperationSpec = OperationWork & {
  /** `stream_disk`, `install`, `commit`: names the operation in logs. */
  name: string;
  reboot: RebootDecision;
  /** A failure known before the engine starts (e.g. an unsupported hash kind), reported in Completed. */
  precheck?: () => TridentErrorInfo | undefined;
};

export interface Operation {
  readonly id: number;
  readonly name: string;
  readonly queue: EventQueue<OperationItem>;
  readonly abort: AbortController;
  /** Resolves when the operation ended, whatever its client did. */
  readonly done: Promise<OperationOutcome>;
}

export interface OperationOutcome {
  completed: Completed;
  /** The daemon must reboot the host once the stream is closed. */
  rebootDue: boolean;
}

export interface ServicingManagerOptions {
  logger: Logger;
  loadEngine: () => Promise<EngineApi>;
  version: string;
  /** Called when a Trident-handled reboot became due (after Completed was queued). */
  onRebootDue: () => void;
  onActiveChange?: (active: boolean) => void;
}

export interface ServicingSnapshot {
  /** The last operation's error in this daemon's lifetime. */
  lastError: TridentErrorInfo | undefined;
  /** Successful clean installs in this daemon's lifetime. */
  installed: boolean;
}

export class ServicingManager {
  readonly #options: ServicingManagerOptions;
  #current: Operation | undefined;
  #nextId = 1;
  #refusing: string | undefined;
  readonly snapshot: ServicingSnapshot = { lastError: undefined, installed: false };

  constructor(options: ServicingManagerOptions) {
    this.#options = options;
  }

  get current(): Operation | undefined {
    return this.#current;
  }

  /** New operations fail with UNAVAILABLE `reason` (the daemon is stopping or rebooting). */
  refuse(reason: string): void {
    this.#refusing = reason;
  }

  /** Throws UNAVAILABLE unless the caller may start an operation. */
  checkAvailable(): void {
    const current = this.#current;
    if (current !== undefined)
      throw new ConnectError(
        current.queue.detached ? 'Servicing is active' : 'Trident is busy',
        Code.Unavailable,
      );
    if (this.#refusing !== undefined) throw new ConnectError(this.#refusing, Code.Unavailable);
  }

  /** Takes the lock and starts the operation; its items are read from `operation.queue`. */
  start(spec: OperationSpec): Operation {
    this.checkAvailable();
    const abort = new AbortController();
    const queue = new EventQueue<OperationItem>();
    const id = this.#nextId++;
    let resolveDone!: (outcome: OperationOutcome) => void;
    const done = new Promise<OperationOutcome>((resolve) => {
      resolveDone = resolve;
    });
    const operation: Operation = { id, name: spec.name, queue, abort, done };
    this.#current = operation;
    this.#options.onActiveChange?.(true);
    this.#options.logger.info('servicing started', { operation: spec.name, id });
    void this.#execute(operation, spec).then((outcome) => {
      queue.push({ kind: 'completed', completed: outcome.completed });
      queue.close();
      this.#current = undefined;
      this.#options.onActiveChange?.(false);
      const error = outcome.completed.error;
      this.#options.logger.info('servicing finished', {
        operation: spec.name,
        id,
        status: outcome.completed.status === StatusCode.SUCCESS ? 'success' : 'failure',
        error: error === undefined ? undefined : `${error.subkind}: ${error.errorMessage}`,
        client: queue.detached ? 'gone' : 'attached',
      });
      resolveDone(outcome);
      if (outcome.rebootDue) this.#options.onRebootDue();
    });
    return operation;
  }

  async #execute(operation: Operation, spec: OperationSpec): Promise<OperationOutcome> {
    const { queue, abort } = operation;
    const log: TaskSession['log'] = (level, message, target = ENGINE_MODULE) => {
      if (!queue.push({ kind: 'log', log: { level, message, target, module: ENGINE_MODULE } }))
        this.#options.logger.debug(message, { operation: spec.name, forwarded: false, level });
    };
    const failed = (info: TridentErrorInfo): OperationOutcome => {
      this.snapshot.lastError = info;
      return {
        rebootDue: false,
        completed: create(CompletedSchema, {
          status: StatusCode.FAILURE,
          error: toProtoError(info),
          rebootStatus: RebootStatus.REBOOT_NOT_REQUIRED,
        }),
      };
    };
    log('info', `Running Trident version: ${this.#options.version}`, 'trident');
    const early = spec.precheck?.();
    if (early !== undefined) return failed(early);
    let engine: EngineApi | undefined;
    try {
      engine = await this.#options.loadEngine();
      const result =
        spec.task !== undefined
          ? await spec.task(engine, { signal: abort.signal, log })
          : await this.#runEngine(engine, spec.request, abort.signal, log);
      if (result.status !== 'success') return failed(result.error);
      if (result.rebootRequired && spec.reboot === 'error')
        // Trident's servicing manager for a task type that must not reboot (stage-only RPCs).
        return failed({
          kind: 'INTERNAL_ERROR',
          subkind: 'internal',
          errorMessage: REBOOT_FORBIDDEN,
          message: `Trident failed due to an internal error\n\nContext:\n  0: ${REBOOT_FORBIDDEN}`,
          code: 'DAEMON_REBOOT_FORBIDDEN',
        });
      this.snapshot.lastError = undefined;
      if (result.servicingKind === ServicingKind.CLEAN_INSTALL) this.snapshot.installed = true;
      const rebootDue = result.rebootRequired && spec.reboot === 'handle';
      return {
        rebootDue,
        completed: create(CompletedSchema, {
          status: StatusCode.SUCCESS,
          rebootStatus: !result.rebootRequired
            ? RebootStatus.REBOOT_NOT_REQUIRED
            : spec.reboot === 'handle'
              ? RebootStatus.REBOOT_STARTED
              : RebootStatus.REBOOT_REQUIRED,
          ...(result.imageHash === undefined
            ? {}
            : {
                imageHash: result.imageHash.startsWith('sha384:')
                  ? result.imageHash
                  : `sha384:${result.imageHash}`,
              }),
          servicingKind: result.servicingKind,
        }),
      };
    } catch (error) {
      this.#options.logger.debug('servicing error', { operation: spec.name, error: describeError(error) });
      if (abort.signal.aborted) return failed(cancelledError(engine, error, abort.signal.reason));
      return failed(engine !== undefined ? engine.toTridentError(error) : internalError(error));
    }
  }

  /** Plans and runs an engine request, its events forwarded as Log messages. */
  async #runEngine(
    engine: EngineApi,
    request: EngineRequest,
    signal: AbortSignal,
    log: TaskSession['log'],
  ): Promise<TaskResult> {
    const plan = await engine.plan(request, { signal });
    const progress = createProgressThrottle();
    const onEvent = (event: EngineEvent) => {
      if (event.type === 'log') log(event.level, event.message, event.target || ENGINE_MODULE);
      else if (event.type === 'progress') {
        const line = progress(event);
        if (line !== undefined) log('info', line, `${ENGINE_MODULE}::progress`);
      } else if (event.type === 'started') {
        for (const step of event.plan.steps) log('debug', `Plan: ${step}`, `${ENGINE_MODULE}::plan`);
      }
    };
    const reclaimMemory = engine.createReclaimer?.();
    const result: RunResult = await engine.run(plan, {
      signal,
      onEvent,
      ...(reclaimMemory ? { reclaimMemory } : {}),
    });
    if (result.status !== 'success')
      return {
        status: 'failure',
        error:
          result.error ?? engine.toTridentError(new Error('The engine reported a failure without details.')),
      };
    return {
      status: 'success',
      rebootRequired: result.rebootRequired,
      imageHash: result.imageHash,
      // Trident reports CleanInstall for stream-disk and install alike (upstream #613); a run that
      // had nothing to do names no kind (upstream's NoActiveServicing).
      servicingKind:
        result.servicingKind === undefined
          ? ServicingKind.NONE_REQUIRED
          : (WIRE_SERVICING_KIND[result.servicingKind] ?? ServicingKind.CLEAN_INSTALL),
    };
  }
}

/**
 * An abort (stop with --on-stop abort, or a client gone with --cancel-on-disconnect) may land
 * while planning, before the engine wraps it: report it the way the engine reports a cancelled
 * run (SERVICING_ERROR `cancelled`) whatever phase it hit.
 */
function cancelledError(engine: EngineApi | undefined, error: unknown, reason: unknown): TridentErrorInfo {
  const mapped = engine?.toTridentError(error);
  if (mapped?.subkind === 'cancelled') return mapped;
  const why = reason instanceof Error ? reason.message : 'The operation was cancelled.';
  const errorMessage = `The operation was cancelled: ${why}`;
  return {
    kind: 'SERVICING_ERROR',
    subkind: 'cancelled',
    errorMessage,
    message: `Trident failed due to a servicing error\n\nContext:\n  0: ${errorMessage}\n  1: ${describeError(error)}`,
    code: 'ENGINE_CANCELLED',
  };
}

/** Used only when the engine itself cannot be loaded. */
function internalError(error: unknown): TridentErrorInfo {
  const text = describeError(error);
  return {
    kind: 'INTERNAL_ERROR',
    subkind: 'load-engine',
    errorMessage: 'Failed to load the servicing engine',
    message: `Trident failed due to an internal error\n\nContext:\n  0: Failed to load the servicing engine\n  1: ${text}`,
    code: 'DAEMON_ENGINE_LOAD',
  };
}
