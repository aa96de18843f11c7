export * from './errors.ts';
export * from './diagnostics.ts';
export type * from './types.ts';
export { HttpClient, type AuthProvider } from './http-client.ts';
export { openHttpSource, type OpenHttpOptions } from './http-source.ts';
export { openFileSource } from './file-source.ts';
