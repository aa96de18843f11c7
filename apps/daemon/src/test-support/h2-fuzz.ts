/**
 * Random HTTP/2 requests for the daemon fuzz test, from a seeded PRNG so a failure reproduces
 * with the same seed. A case is what a hostile or broken client could send: odd authorities and
 * paths, any method, headers and content types, bodies from empty to garbage to lies about their
 * length, and endings from normal to a reset mid-body, a dropped connection or raw frame bytes.
 */

/** mulberry32: small, fast, good enough to pick test cases. */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(items: readonly T[]): T => items[int(items.length)]!,
    chance: (p: number) => next() < p,
    bytes: (n: number) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
    text: (n: number, alphabet: string) => {
      let out = '';
      for (let i = 0; i < n; i++) out += alphabet[int(alphabet.length)];
      return out;
    },
  };
}

export interface Random {
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  bytes(n: number): Buffer;
  text(n: number, alphabet: string): string;
}

/** How a case ends on the client side. */
export type Ending =
  | { kind: 'complete' }
  /**
   * Send part of the body, then RST_STREAM with `code`. Never NO_ERROR: node's `close(0)` is not a
   * reset but "end, flush, then reset", which hangs in node's client when the daemon has already
   * answered and closed the stream while body bytes still wait for flow-control window.
   */
  | { kind: 'reset'; afterBytes: number; code: number }
  /** Send part of the body, then drop the whole connection. */
  | { kind: 'drop'; afterBytes: number }
  /** Not node:http2: a raw socket writes the preface and these bytes (garbage or cut frames). */
  | { kind: 'raw-frames'; bytes: Buffer };

export interface FuzzCase {
  headers: Record<string, string>;
  body: Buffer;
  ending: Ending;
}

const UNARY = [
  '/trident.v1.VersionService/Version',
  '/trident.v1preview.ValidationService/ValidateHostConfiguration',
  '/trident.v1preview.ValidationService/GetRequiredServicingType',
  '/trident.v1preview.StatusService/GetServicingState',
  '/trident.v1preview.StatusService/GetLastError',
  '/trident.v1preview.StatusService/GetActiveVolume',
  '/trident.v1preview.StatusService/GetProvisionedConfig',
  '/trident.v1preview.StatusService/GetServicingConfig',
  '/trident.v1preview.RollbackService/CheckRollback',
  '/trident.v1preview.RollbackService/GetRollbackChain',
  '/trident.v1preview.RollbackService/GetRollbackTarget',
];
/**
 * Servicing RPCs: their random bodies never decode (see `body`), so only an empty message starts
 * an operation (a valid CommitRequest, CheckRootRequest, FinalizeInstallRequest...): on the fuzz
 * daemon's empty datastore each fails at once (host-not-provisioned, nothing staged).
 */
const SERVICING = [
  '/trident.v1.StreamingService/StreamDisk',
  '/trident.v1preview.InstallService/Install',
  '/trident.v1preview.InstallService/InstallStage',
  '/trident.v1preview.InstallService/InstallFinalize',
  '/trident.v1.UpdateService/Update',
  '/trident.v1.UpdateService/UpdateStage',
  '/trident.v1.UpdateService/UpdateFinalize',
  '/trident.v1.CommitService/Commit',
  '/trident.v1preview.CommitService/CheckRoot',
  '/trident.v1preview.RollbackService/Rollback',
  '/trident.v1preview.RollbackService/RollbackStage',
  '/trident.v1preview.RollbackService/RollbackFinalize',
];
const TOKEN = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
const PRINTABLE = `${TOKEN}!$&'()*+,;=:@/?%[]{}<>|\\^\`"# `;

function authority(r: Random): string {
  return r.pick([
    () => 'localhost',
    () => 'tmp%2Fx%2Ft.sock',
    () => `%2F${r.text(1 + r.int(40), TOKEN)}%2Ftrident.sock`,
    () => r.text(1 + r.int(60), PRINTABLE.replace(' ', '')),
    () => `[${r.text(1 + r.int(20), '0123456789abcdef:')}]:${r.int(99999)}`,
    () => `${r.text(1 + r.int(10), TOKEN)}:${r.text(r.int(8), '0123456789')}`,
    () => 'x'.repeat(1 + r.int(4000)),
    () => '',
  ])();
}

function path(r: Random): string {
  return r.pick([
    () => r.pick(UNARY),
    () => r.pick(UNARY),
    () => r.pick(SERVICING),
    () => `${r.pick(UNARY)}?${r.text(r.int(30), PRINTABLE.replace(' ', ''))}`,
    () => `/trident.v1.${r.text(1 + r.int(20), TOKEN)}/${r.text(1 + r.int(20), TOKEN)}`,
    () => `/${r.text(r.int(100), PRINTABLE.replace(' ', ''))}`,
    () => '/',
    () => '*',
    () => `//${r.text(1 + r.int(20), TOKEN)}`,
    () => `/${'a/'.repeat(r.int(2000))}`,
  ])();
}

function headerValue(r: Random): string {
  return r.text(r.int(200), PRINTABLE);
}

function headers(r: Random, isServicing: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  h[':method'] = r.pick([
    'POST',
    'POST',
    'POST',
    'GET',
    'PUT',
    'HEAD',
    'OPTIONS',
    'DELETE',
    r.text(1 + r.int(10), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
  ]);
  if (r.chance(0.9)) {
    const contentType = r.pick([
      'application/grpc',
      'application/grpc',
      'application/grpc+proto',
      'application/grpc+json',
      'application/grpc-web',
      'application/json',
      'application/connect+proto',
      'text/plain',
      headerValue(r),
    ]);
    h['content-type'] = contentType;
  }
  // HTTP/2 allows only `te: trailers`; node's client refuses anything else, so that is rare.
  if (r.chance(0.7)) h['te'] = r.chance(0.97) ? 'trailers' : headerValue(r);
  if (r.chance(0.2))
    h['grpc-timeout'] = r.pick([
      `${r.int(100000)}${r.pick(['H', 'M', 'S', 'm', 'u', 'n'])}`,
      headerValue(r),
      '1n',
    ]);
  if (r.chance(0.2))
    h['grpc-encoding'] = r.pick(['gzip', 'identity', 'br', 'deflate', 'snappy', headerValue(r)]);
  if (r.chance(0.2)) h['grpc-accept-encoding'] = r.pick(['gzip', 'identity,gzip', headerValue(r)]);
  if (r.chance(0.1)) h['expect'] = r.pick(['100-continue', headerValue(r)]);
  if (r.chance(0.1)) h['grpc-status'] = String(r.int(20));
  if (r.chance(0.1)) h['grpc-message'] = headerValue(r);
  if (r.chance(0.03)) h['content-length'] = String(r.int(100000));
  for (let i = r.int(4); i > 0; i--)
    h[`x-${r.text(1 + r.int(12), 'abcdefghijklmnopqrstuvwxyz0123456789-')}`] = headerValue(r);
  if (r.chance(0.05)) h['x-big'] = 'v'.repeat(r.int(30000));
  // Servicing bodies are made undecodable below; a gzip flag could hide that, so none there.
  if (isServicing) delete h['grpc-encoding'];
  return h;
}

/** A gRPC frame header: flag byte and a 32-bit length that may or may not be true. */
function frame(flag: number, length: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(length >>> 0, 1);
  return Buffer.concat([head, payload]);
}

function body(r: Random, isServicing: boolean): Buffer {
  // Servicing payloads start with tag 0x0f (field 1, wire type 7), which no protobuf decoder
  // accepts: the fuzz exercises the transport, never starts an operation nor fetches a URL.
  const payload = (n: number) =>
    isServicing ? Buffer.concat([Buffer.from([0x0f]), r.bytes(n)]) : r.bytes(n);
  return r.pick([
    () => Buffer.alloc(0),
    () => frame(0, 0, Buffer.alloc(0)),
    () => {
      const p = payload(r.int(300));
      return frame(0, p.length, p);
    },
    () => {
      const p = payload(r.int(300));
      return frame(0, p.length + 1 + r.int(1000), p); // claims more than it sends
    },
    () => frame(1, 20, payload(20)), // "compressed", not gzip
    () => frame(r.int(256), r.int(2 ** 32), payload(r.int(50))), // any flag, any length (up to 4 GiB)
    () => r.bytes(1 + r.int(4)), // not even a frame header
    () => Buffer.concat([frame(0, 0, Buffer.alloc(0)), frame(0, 0, Buffer.alloc(0))]), // two messages
    () => payload(r.int(64 * 1024)), // raw junk
    () => {
      const p = payload(r.int(2000));
      return frame(0, p.length, p);
    },
  ])();
}

/** A client connection preface followed by damaged frames. */
function rawFrames(r: Random): Buffer {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const cutHeaders = Buffer.concat([Buffer.from([0, 0, 40, 1, 5, 0, 0, 0, 1]), r.bytes(r.int(40))]);
  return r.pick([
    () => Buffer.concat([preface, r.bytes(r.int(200))]),
    () => Buffer.concat([preface, settings, cutHeaders]),
    () => Buffer.concat([preface, settings, r.bytes(9 + r.int(100))]),
    () => preface.subarray(0, r.int(preface.length)),
    () => r.bytes(r.int(300)),
  ])();
}

export function fuzzCase(r: Random): FuzzCase {
  if (r.chance(0.05))
    return { headers: {}, body: Buffer.alloc(0), ending: { kind: 'raw-frames', bytes: rawFrames(r) } };
  const p = path(r);
  const isServicing = SERVICING.some((s) => p.startsWith(s));
  const h = { ':path': p, ':authority': authority(r), ...headers(r, isServicing) };
  const b = body(r, isServicing);
  const roll = r.next();
  const ending: Ending =
    roll < 0.8
      ? { kind: 'complete' }
      : roll < 0.95
        ? { kind: 'reset', afterBytes: r.int(b.length + 1), code: r.pick([1, 2, 5, 7, 8, 11, 13]) }
        : { kind: 'drop', afterBytes: r.int(b.length + 1) };
  return { headers: h, body: b, ending };
}
