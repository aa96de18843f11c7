/** JSON Schema (draft 2020-12) of what users may write, generated from the zod schemas, for editors. */
import * as z from 'zod/mini';
import { HostConfigurationSchema } from './schema/root.ts';

export const HOST_CONFIG_SCHEMA_ID = 'https://trident.invalid/schemas/host-configuration.json';

export function hostConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(HostConfigurationSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as Record<string, unknown>;
  return { ...schema, $id: HOST_CONFIG_SCHEMA_ID, title: 'Trident Host Configuration' };
}
