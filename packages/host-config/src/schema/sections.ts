/** zod schemas for `image`, `scripts`, `health`, `trident` and `internalParams` (reference §1.1, §1.3). */
import * as z from 'zod/mini';
import { bool, defList, dict, oneOf, opt, preprocess, sha384, str, struct, uint, url } from '../scalars.ts';
import { toPlain } from '../yaml-source.ts';

export const ImageSchema = struct({ url: url(), sha384: sha384(true) });

export const RUN_ON = ['clean-install', 'runtime-update', 'ab-update', 'all'] as const;

export const ScriptSchema = struct({
  // Trident: `#[serde(default)] name: String`.
  name: z._default(str(), ''),
  runOn: defList(oneOf(RUN_ON)),
  content: opt(str()),
  path: opt(str()),
  interpreter: opt(str()),
  arguments: defList(str()),
  environmentVariables: opt(dict(str())),
});

export const ScriptsSchema = struct({
  preServicing: defList(ScriptSchema),
  postProvision: defList(ScriptSchema),
  postConfigure: defList(ScriptSchema),
});

export const SystemdCheckSchema = struct({
  name: z._default(str(), ''),
  systemdServices: defList(str()),
  // A usize in Trident; beyond 2^53 JavaScript cannot hold it exactly.
  timeoutSeconds: z._default(uint(Number.MAX_SAFE_INTEGER), 30),
  runOn: defList(oneOf(RUN_ON)),
});

/** Untagged: a mapping with `systemdServices` is a systemd check, anything else a script. */
export const HealthCheckSchema = z.union([SystemdCheckSchema, ScriptSchema]);

export const HealthSchema = struct({ checks: defList(HealthCheckSchema) });

export const TridentSchema = struct({
  disable: z._default(bool(), false),
  datastorePath: z._default(str(), '/var/lib/trident/datastore.sqlite'),
  phonehome: opt(str()),
  logstream: opt(str()),
});

/** Hidden, free-form preview and debug flags. */
export const InternalParamsSchema = preprocess(toPlain, z.record(z.string(), z.unknown())).register(
  // Classic's `.describe()`: the description lives in the global registry (the JSON Schema reads it).
  z.globalRegistry,
  { description: 'Internal parameters (preview and debug flags); not a stable interface.' },
);
