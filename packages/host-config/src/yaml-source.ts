/**
 * Reads Host Configuration YAML with the `yaml` package, keeping source positions, and converts the
 * syntax tree to plain values the zod schemas accept.
 *
 * Trident uses serde_yaml 0.9, whose scalar rules differ from YAML 1.2 core (reference §0, §7):
 * string-typed fields receive the literal text of any plain scalar (`permissions: 0755` stays
 * `"0755"`), booleans are only true/false spellings, an empty value is an empty list or map, and an
 * explicit `null` is an error for lists and maps. So plain scalars that YAML would resolve to a number
 * or boolean become `PlainScalar`s carrying both the text and the value, and the field schema decides.
 */
import {
  CST,
  type Document,
  type EmptyStream,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  parseAllDocuments,
  type Scalar,
} from 'yaml';
import type { Severity } from './codes.ts';
import { CODES, type HostConfigCode } from './codes.ts';
import type { Finding } from './errors.ts';
import { formatPath, type Path } from './path.ts';

/** A plain (unquoted) scalar that YAML 1.2 would resolve to a number or a boolean. */
export class PlainScalar {
  readonly text: string;
  readonly value: number | boolean;
  constructor(text: string, value: number | boolean) {
    this.text = text;
    this.value = value;
  }
}

/** An empty plain value (`disks:` followed by nothing). */
export const EMPTY: unique symbol = Symbol('empty YAML value');
export type Empty = typeof EMPTY;

/**
 * The document as plain data, as any YAML reader sees it (numbers and booleans resolved, empty
 * values null): what is recorded as the Host Status `spec` and read back by the same parser.
 */
export function plainDocument(value: unknown): unknown {
  if (value instanceof PlainScalar) return value.value;
  if (value === EMPTY) return null;
  if (Array.isArray(value)) return value.map(plainDocument);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plainDocument(inner)]));
  return value;
}

export interface SourceDocument {
  readonly text: string;
  /** Converted value for the schemas; `undefined` when the YAML could not be read at all. */
  readonly value: unknown;
  readonly document: Document.Parsed | undefined;
  readonly lineCounter: LineCounter;
  /** YAML-level findings (syntax, duplicate keys, complex keys, several documents). */
  readonly findings: Finding[];
}

export function finding(
  code: HostConfigCode,
  path: Path,
  line: number,
  column: number,
  message: string,
  severity?: Severity,
): Finding {
  return { code, severity: severity ?? CODES[code].severity, path: formatPath(path), line, column, message };
}

const MAX_ALIAS_COUNT = 1000;

/**
 * Limits on what a document may cost. A Host Configuration is a few KiB and a few hundred nodes;
 * these are far above any real one and far below what exhausts memory: the `yaml` package needs
 * about 700 MB to compose a 1 MiB flow sequence, and alias expansion can multiply a small text.
 */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
export const MAX_YAML_NODES = 20_000;
/** Nodes after alias expansion: what conversion and the schemas see. */
export const MAX_EXPANDED_NODES = 50_000;
export const MAX_YAML_DEPTH = 64;

const LEXER_MARKERS = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

/** Lexer tokens that start a node. */
const NODE_TOKENS = new Set([
  'scalar',
  'single-quoted-scalar',
  'double-quoted-scalar',
  'block-scalar-header',
  'alias',
  'flow-map-start',
  'flow-seq-start',
]);

/**
 * Counts nodes and flow nesting with the `yaml` lexer (a generator: constant memory) before the
 * document is composed, and stops at the first limit. Returns the problem and its text offset.
 */
function checkCost(text: string): { code: HostConfigCode; offset: number; message: string } | undefined {
  if (Buffer.byteLength(text, 'utf8') > MAX_DOCUMENT_BYTES) {
    return {
      code: 'HC_YAML_TOO_LARGE',
      offset: 0,
      message: `The document is ${Buffer.byteLength(text, 'utf8')} bytes; a Host Configuration may be at most ${MAX_DOCUMENT_BYTES} bytes (4 MiB). Real ones are a few KiB: keep large file contents out of \`additionalFiles\` (use \`source\`).`,
    };
  }
  let nodes = 0;
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token) ?? undefined;
    if (type !== undefined && NODE_TOKENS.has(type) && ++nodes > MAX_YAML_NODES) {
      return {
        code: 'HC_YAML_TOO_LARGE',
        offset,
        message: `The document has more than ${MAX_YAML_NODES} YAML nodes; a Host Configuration has a few hundred. Reading stopped here.`,
      };
    }
    if (type === 'flow-map-start' || type === 'flow-seq-start') {
      if (++depth > MAX_YAML_DEPTH) {
        return {
          code: 'HC_YAML_TOO_DEEP',
          offset,
          message: `Lists and maps are nested more than ${MAX_YAML_DEPTH} levels deep here; no Host Configuration section is.`,
        };
      }
    } else if (type === 'flow-map-end' || type === 'flow-seq-end') depth--;
    // The lexer's document, flow-error and scalar markers are control characters, not text.
    if (!LEXER_MARKERS.has(token)) offset += token.length;
  }
  return undefined;
}

export function readYaml(text: string): SourceDocument {
  const lineCounter = new LineCounter();
  const findings: Finding[] = [];
  const cost = checkCost(text);
  if (cost !== undefined) {
    const before = text.slice(0, cost.offset);
    const line = before.split('\n').length;
    const column = cost.offset - before.lastIndexOf('\n');
    findings.push(finding(cost.code, [], line, column, cost.message));
    return { text, value: undefined, document: undefined, lineCounter, findings };
  }
  let docs: Document.Parsed[] | EmptyStream;
  try {
    docs = parseAllDocuments(text, {
      lineCounter,
      uniqueKeys: true,
      prettyErrors: false,
      strict: true,
      keepSourceTokens: false,
    });
  } catch (error) {
    // A nesting the lexer check let through (block sequences nest without brackets) can still
    // exhaust the stack inside the composer: report it, never crash.
    if (!(error instanceof RangeError)) throw error;
    findings.push(
      finding(
        'HC_YAML_TOO_DEEP',
        [],
        1,
        1,
        `The document nests lists and maps too deeply to read (${error.message}).`,
      ),
    );
    return { text, value: undefined, document: undefined, lineCounter, findings };
  }
  const list = Array.isArray(docs) ? docs : [];
  const at = (offset: number): { line: number; col: number } => {
    const pos = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { line: pos.line, col: pos.col };
  };
  if (list.length > 1) {
    const second = list[1];
    const pos = at(second?.range[0] ?? 0);
    findings.push(
      finding(
        'HC_YAML_MULTIPLE_DOCUMENTS',
        [],
        pos.line,
        pos.col,
        'The file contains more than one YAML document; a Host Configuration is a single document. Remove the extra `---` section or split it into its own file.',
      ),
    );
  }
  const document = list[0];
  if (document === undefined) return { text, value: {}, document: undefined, lineCounter, findings };
  for (const err of document.errors) {
    const pos = at(err.pos[0]);
    const duplicate = err.code === 'DUPLICATE_KEY';
    findings.push(
      finding(
        duplicate ? 'HC_YAML_DUPLICATE_KEY' : 'HC_YAML_SYNTAX',
        [],
        pos.line,
        pos.col,
        duplicate
          ? `${firstLine(err.message)}. Each key may appear once in a mapping; merge or remove the repeated key.`
          : `YAML syntax error: ${firstLine(err.message)}. Fix the text at this position (check indentation and quoting; tabs may not indent).`,
      ),
    );
  }
  if (document.errors.length > 0) return { text, value: undefined, document, lineCounter, findings };
  const ctx: ConvertContext = { document, findings, at, aliases: 0, nodes: 0, stopped: false };
  const value = document.contents === null ? {} : convert(document.contents, [], ctx);
  if (ctx.stopped) return { text, value: undefined, document, lineCounter, findings };
  return { text, value, document, lineCounter, findings };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/\.$/, '');
}

interface ConvertContext {
  document: Document.Parsed;
  findings: Finding[];
  at: (offset: number) => { line: number; col: number };
  aliases: number;
  /** Nodes converted so far, alias expansions included. */
  nodes: number;
  /** A limit was hit: the value is incomplete and must not be used. */
  stopped: boolean;
}

function convert(node: unknown, path: Path, ctx: ConvertContext, depth = 0): unknown {
  if (ctx.stopped) return null;
  if (++ctx.nodes > MAX_EXPANDED_NODES || depth > MAX_YAML_DEPTH) {
    ctx.stopped = true;
    const pos = ctx.at((node as Node | null)?.range?.[0] ?? 0);
    ctx.findings.push(
      depth > MAX_YAML_DEPTH
        ? finding(
            'HC_YAML_TOO_DEEP',
            path,
            pos.line,
            pos.col,
            `Lists and maps are nested more than ${MAX_YAML_DEPTH} levels deep here; no Host Configuration section is.`,
          )
        : finding(
            'HC_YAML_TOO_LARGE',
            path,
            pos.line,
            pos.col,
            `The document expands to more than ${MAX_EXPANDED_NODES} nodes (aliases included); write the values out instead of repeating anchors.`,
          ),
    );
    return null;
  }
  if (isAlias(node)) {
    ctx.aliases += 1;
    if (ctx.aliases > MAX_ALIAS_COUNT || depth > 200) {
      const pos = ctx.at(node.range?.[0] ?? 0);
      ctx.findings.push(
        finding(
          'HC_YAML_SYNTAX',
          path,
          pos.line,
          pos.col,
          'Too many or too deeply nested YAML aliases; write the values out instead of using anchors.',
        ),
      );
      return null;
    }
    const target = node.resolve(ctx.document);
    return target === undefined ? null : convert(target, path, ctx, depth + 1);
  }
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = pair.key;
      let name: string | undefined;
      if (isScalar(key) && key.value !== null && typeof key.value !== 'object') {
        name = key.type === 'PLAIN' && key.source !== undefined ? key.source : String(key.value);
      }
      if (name === undefined) {
        const range = (key as Node | null)?.range ?? (pair.value as Node | null)?.range;
        const pos = ctx.at(range?.[0] ?? node.range?.[0] ?? 0);
        ctx.findings.push(
          finding(
            'HC_YAML_COMPLEX_KEY',
            path,
            pos.line,
            pos.col,
            'A mapping key must be a plain word such as `storage`; lists, maps and null are not keys.',
          ),
        );
        continue;
      }
      // defineProperty: a key named `__proto__` must stay an ordinary key.
      Object.defineProperty(out, name, {
        value: convert(pair.value, [...path, name], ctx, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  if (isSeq(node)) return node.items.map((item, i) => convert(item, [...path, i], ctx, depth + 1));
  if (isScalar(node)) return scalarValue(node);
  if (node === null || node === undefined) return EMPTY;
  return null;
}

function scalarValue(node: Scalar): unknown {
  const value = node.value;
  if (node.type !== 'PLAIN' && node.type !== undefined)
    return typeof value === 'string' ? value : String(value);
  const source = node.source ?? (value === null ? '' : String(value));
  if (value === null) return source.trim() === '' ? EMPTY : null;
  if (typeof value === 'number' || typeof value === 'boolean') return new PlainScalar(source, value);
  if (typeof value === 'string') return value;
  return source;
}

/** The YAML node at `path`, or the nearest existing ancestor; `key: true` prefers the key node. */
export function locate(
  source: SourceDocument,
  path: Path,
  preferKey = false,
): { line: number; column: number } {
  const document = source.document;
  if (document === undefined) return { line: 0, column: 0 };
  let node: unknown = document.contents;
  let best: number | undefined = (node as Node | null)?.range?.[0];
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isScalar(p.key) && (p.key.source ?? String(p.key.value)) === String(part),
      );
      if (pair === undefined) break;
      const keyStart = (pair.key as Node).range?.[0];
      const last = i === path.length - 1;
      const valueStart = (pair.value as Node | null)?.range?.[0];
      best = last && preferKey ? keyStart : (valueStart ?? keyStart);
      if (
        pair.value === null ||
        (isScalar(pair.value) && pair.value.source === '' && pair.value.value === null)
      )
        best = keyStart;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined;
      if (item === undefined) break;
      best = item.range?.[0] ?? best;
      node = item;
    } else break;
  }
  if (best === undefined) return { line: 0, column: 0 };
  const pos = source.lineCounter.linePos(best);
  return { line: pos.line, column: pos.col };
}

/** Plain JS value with `PlainScalar`s and `EMPTY` resolved (for free-form sections). */
export function toPlain(value: unknown): unknown {
  if (value instanceof PlainScalar) return value.value;
  if (value === EMPTY) return null;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, k, {
        value: toPlain(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  return value;
}

/** A source for a value that did not come from YAML text (findings then carry no positions). */
export function sourceFromValue(value: unknown): SourceDocument {
  return { text: '', value, document: undefined, lineCounter: new LineCounter(), findings: [] };
}
