import { EngineError } from '../errors.ts';
import type { RequestOf, ServicingKind } from './kind.ts';

/**
 * Every servicing kind the engine runs, by request `kind`: a loader each, so a process loads only
 * the kind it runs (stream-disk does not load install's Host Configuration, OS configuration, boot
 * and datastore modules: 22 MiB less RSS at start, issue 14). Adding a kind is a folder beside
 * these and one entry here; `EngineRequest` follows from it (the package index exports each request
 * type by name, as it does every public type).
 */
const SERVICING_KINDS = {
  'stream-disk': async () => (await import('./stream-disk/kind.ts')).streamDisk,
  install: async () => (await import('./install/kind.ts')).install,
  update: async () => (await import('./update/kind.ts')).update,
} as const;

type Registry = typeof SERVICING_KINDS;
/** What each loader resolves to. */
type LoadedKind<Name extends keyof Registry> = Awaited<ReturnType<Registry[Name]>>;

/** Every request the engine accepts: the union of the registered kinds' requests. */
export type EngineRequest = RequestOf<LoadedKind<keyof Registry>>;

/**
 * The kind that serves a request. The cast is sound because each entry's key is its own `kind`
 * (checked by `engine.test.ts`): the registry cannot express that correlation in its type.
 */
export async function servicingKindOf<Request extends EngineRequest>(
  request: Request,
): Promise<ServicingKind<Request, unknown>> {
  const load = Object.hasOwn(SERVICING_KINDS, request.kind) ? SERVICING_KINDS[request.kind] : undefined;
  if (load === undefined) {
    // Requests come typed from the CLI and the daemon; this catches a caller outside TypeScript.
    throw new EngineError(
      'INTERNAL_ERROR',
      'unknown',
      `unknown servicing kind '${String(request.kind)}'; the engine serves ${Object.keys(SERVICING_KINDS).join(', ')}`,
      { code: 'ENGINE_UNKNOWN_KIND' },
    );
  }
  return (await load()) as unknown as ServicingKind<Request, unknown>;
}

/** Registered kinds, every one loaded, for checks over all of them. */
export async function servicingKinds(): Promise<
  ReadonlyArray<readonly [string, ServicingKind<EngineRequest, unknown>]>
> {
  return Promise.all(
    Object.entries(SERVICING_KINDS).map(
      async ([name, load]) =>
        [name, (await load()) as unknown as ServicingKind<EngineRequest, unknown>] as const,
    ),
  );
}
