import { EngineError } from '../errors.ts';
import { install } from './install/kind.ts';
import type { RequestOf, ServicingKind } from './kind.ts';
import { streamDisk } from './stream-disk/kind.ts';
import { update } from './update/kind.ts';

/**
 * Every servicing kind the engine runs, by request `kind`. Adding a kind is a folder beside these
 * and one entry here; `EngineRequest` follows from it (the package index exports each request type
 * by name, as it does every public type).
 */
const SERVICING_KINDS = {
  'stream-disk': streamDisk,
  install,
  update,
} as const;

/** Every request the engine accepts: the union of the registered kinds' requests. */
export type EngineRequest = RequestOf<(typeof SERVICING_KINDS)[keyof typeof SERVICING_KINDS]>;

/**
 * The kind that serves a request. The cast is sound because each entry's key is its own `kind`
 * (checked by `engine.test.ts`): the registry cannot express that correlation in its type.
 */
export function servicingKindOf<Request extends EngineRequest>(
  request: Request,
): ServicingKind<Request, unknown> {
  const kind = Object.hasOwn(SERVICING_KINDS, request.kind) ? SERVICING_KINDS[request.kind] : undefined;
  if (kind === undefined) {
    // Requests come typed from the CLI and the daemon; this catches a caller outside TypeScript.
    throw new EngineError(
      'INTERNAL_ERROR',
      'unknown',
      `unknown servicing kind '${String(request.kind)}'; the engine serves ${Object.keys(SERVICING_KINDS).join(', ')}`,
      { code: 'ENGINE_UNKNOWN_KIND' },
    );
  }
  return kind as unknown as ServicingKind<Request, unknown>;
}

/** Registered kinds, for checks over all of them. */
export function servicingKinds(): ReadonlyArray<readonly [string, ServicingKind<EngineRequest, unknown>]> {
  return Object.entries(SERVICING_KINDS) as unknown as Array<[string, ServicingKind<EngineRequest, unknown>]>;
}
