export { GRPC_CLIENT_USAGE, type GrpcClientIo, runGrpcClient } from './grpc-client.ts';
export { DEFAULT_SERVER_URI, parseServerAddress, type ServerAddress } from './server-address.ts';
