/**
 * An independent gRPC client for tests: @grpc/grpc-js with the .proto files loaded at run time.
 * It shares no code with the daemon (no src/gen, no connect-es), so the tests check the wire.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));
const FILES = [
  'trident/v1/version_service.proto',
  'trident/v1/streaming_service.proto',
  'trident/v1/update_service.proto',
  'trident/v1/commit_service.proto',
  'trident/v1preview/commit_service.proto',
  'trident/v1preview/install_service.proto',
  'trident/v1preview/rollback_service.proto',
  'trident/v1preview/status_service.proto',
  'trident/v1preview/validation_service.proto',
];

// snake_case field names, enum names as strings, absent fields stay absent (so "set to 0" and
// "not set" can be told apart only through presence; see `hasField`), oneof case names included.
const definition = protoLoader.loadSync(FILES, {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  enums: String,
  longs: Number,
  defaults: false,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(definition) as any;

export interface TestClients {
  version: any;
  streaming: any;
  update: any;
  commit: any;
  /** trident.v1preview.CommitService (CheckRoot). */
  commitPreview: any;
  install: any;
  rollback: any;
  status: any;
  validation: any;
  close(): void;
}

/** Clients for a unix socket path (`unix:///...`) or a grpc-js target. */
export function createTestClients(socketPathOrTarget: string): TestClients {
  const target = socketPathOrTarget.startsWith('/') ? `unix://${socketPathOrTarget}` : socketPathOrTarget;
  const creds = grpc.credentials.createInsecure();
  const v1 = loaded.trident.v1;
  const preview = loaded.trident.v1preview;
  const clients = {
    version: new v1.VersionService(target, creds),
    streaming: new v1.StreamingService(target, creds),
    update: new v1.UpdateService(target, creds),
    commit: new v1.CommitService(target, creds),
    commitPreview: new preview.CommitService(target, creds),
    install: new preview.InstallService(target, creds),
    rollback: new preview.RollbackService(target, creds),
    status: new preview.StatusService(target, creds),
    validation: new preview.ValidationService(target, creds),
  };
  return {
    ...clients,
    close: () => {
      for (const client of Object.values(clients)) client.close();
    },
  };
}

export function unary<T = any>(client: any, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](
      request,
      { deadline: Date.now() + 30_000 },
      (error: grpc.ServiceError | null, response: T) => {
        if (error) reject(error);
        else resolve(response);
      },
    );
  });
}

export interface StreamResult {
  messages: any[];
  /** Final status: code 0 (OK) or the error. */
  code: grpc.status;
  details: string;
}

/** Starts a server-streaming call; `result` resolves with every message and the final status. */
export function startStream(
  client: any,
  method: string,
  request: object,
): { call: grpc.ClientReadableStream<any>; messages: any[]; result: Promise<StreamResult> } {
  const call: grpc.ClientReadableStream<any> = client[method](request);
  const messages: any[] = [];
  call.on('data', (message) => messages.push(message));
  const result = new Promise<StreamResult>((resolve) => {
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) =>
      resolve({ messages, code: status.code, details: status.details }),
    );
  });
  return { call, messages, result };
}

export function collectStream(client: any, method: string, request: object): Promise<StreamResult> {
  return startStream(client, method, request).result;
}

/** The oneof case of a ServicingResponse: 'started' | 'log' | 'completed'. */
export function kindOf(message: any): string {
  return message.response;
}

export { grpc };
