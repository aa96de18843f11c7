/**
 * Turns zod issues into coded findings with a YAML position and a message that says how to fix the
 * document. Messages of our own checks arrive as `CODE::text` (see `scalars.ts`).
 */
import type * as z from 'zod/mini';
import { type HostConfigCode, isHostConfigCode } from './codes.ts';
import type { Finding } from './errors.ts';
import { formatPath, type Path } from './path.ts';
import { showValue } from './scalars.ts';
import { EMPTY, finding, locate, PlainScalar, type SourceDocument } from './yaml-source.ts';

type Issue = z.core.$ZodIssue;

/** Older-API keys (reference §5), by the section that held them. */
const DEPRECATED_KEYS: Record<string, Record<string, string>> = {
  '': {
    osImage:
      '`osImage` was renamed `image` (2025-02) and now needs `sha384`: write `image: {url: <url>, sha384: <96 hex or ignored>}`',
  },
  storage: {
    verityFilesystems:
      '`verityFilesystems` was replaced by `storage.verity` devices plus ordinary `filesystems` entries (2025-03)',
  },
  os: { network: '`os.network` was renamed `os.netplan` (2025-07)' },
  managementOs: { network: '`managementOs.network` was renamed `managementOs.netplan` (2025-07)' },
};

const MIGRATE_HINT = 'Run `trident config migrate <file>` to rewrite the document in the current API.';

function valueAt(root: unknown, path: Path): { found: boolean; value: unknown } {
  let node = root;
  for (const part of path) {
    if (node === null || typeof node !== 'object' || node instanceof PlainScalar)
      return { found: false, value: undefined };
    if (!Object.hasOwn(node, part)) return { found: false, value: undefined };
    node = (node as Record<string | number, unknown>)[part];
  }
  return { found: true, value: node };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === EMPTY) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof PlainScalar)
    return typeof value.value === 'boolean'
      ? `the boolean \`${value.text}\``
      : `the number \`${value.text}\``;
  if (typeof value === 'string') return `the string ${showValue(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  if (typeof value === 'object') return 'a map';
  return typeof value;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean (`true` or `false`)',
  array: 'a list',
  object: 'a map',
  record: 'a map',
};

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const score =
      c.toLowerCase() === word.toLowerCase() ? 0 : levenshtein(word.toLowerCase(), c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(1, Math.floor(word.length / 3))
    ? ` Did you mean \`${best}\`?`
    : '';
}

function splitCoded(message: string): { code: HostConfigCode; text: string } | undefined {
  const i = message.indexOf('::');
  if (i < 0) return undefined;
  const code = message.slice(0, i);
  return isHostConfigCode(code) ? { code, text: message.slice(i + 2) } : undefined;
}

export function issuesToFindings(
  issues: readonly Issue[],
  source: SourceDocument,
  base: Path = [],
): Finding[] {
  const out: Finding[] = [];
  for (const issue of issues) out.push(...issueToFindings(issue, source, [...base, ...(issue.path as Path)]));
  return out;
}

function issueToFindings(issue: Issue, source: SourceDocument, path: Path): Finding[] {
  const at = (p: Path, key = false) => locate(source, p, key);
  const make = (code: HostConfigCode, p: Path, message: string, key = false): Finding => {
    const pos = at(p, key);
    return finding(code, p, pos.line, pos.column, message);
  };
  const here = valueAt(source.value, path);
  const c = splitCoded(issue.message);

  if (issue.code === 'unrecognized_keys') {
    const known = (c?.text ?? '')
      .split(', ')
      .map((k) => k.replace(/`/g, ''))
      .filter((k) => k !== '');
    return issue.keys.map((key) => {
      const keyPath = [...path, key];
      const section = formatPath(path);
      if (path.length === 0 && key === 'hostConfiguration') {
        return make(
          'HC_OLD_STYLE_WRAPPER',
          keyPath,
          'Old style configuration is not supported: remove the top-level `hostConfiguration:` key and un-indent its contents. ' +
            MIGRATE_HINT,
          true,
        );
      }
      if (path.length === 0 && key === 'allowedOperations') {
        return make(
          'HC_ALLOWED_OPERATIONS',
          keyPath,
          '`allowedOperations` is not part of the Host Configuration: remove it and pass the operations on the command line (`--allowed-operations`).',
          true,
        );
      }
      const deprecated = DEPRECATED_KEYS[path.map(String).join('.')]?.[key];
      if (deprecated !== undefined)
        return make('HC_DEPRECATED_FIELD', keyPath, `${deprecated}. ${MIGRATE_HINT}`, true);
      return make(
        'HC_UNKNOWN_FIELD',
        keyPath,
        `unknown field \`${key}\`${section === '' ? '' : ` in \`${section}\``}, expected one of ${known.map((k) => `\`${k}\``).join(', ')}.${suggestion(key, known)}`,
        true,
      );
    });
  }
  if (
    !here.found &&
    path.length > 0 &&
    valueAt(source.value, path.slice(0, -1)).found &&
    issue.code !== 'custom'
  ) {
    const parent = formatPath(path.slice(0, -1));
    return [
      make(
        'HC_MISSING_FIELD',
        path,
        `missing field \`${String(path[path.length - 1])}\`: add it${parent === '' ? '' : ` to \`${parent}\``}.`,
      ),
    ];
  }
  if (c !== undefined) return [make(c.code, path, `${c.text}.`)];

  const last = path[path.length - 1];
  const fsField = path.length === 4 && path[0] === 'storage' && path[1] === 'filesystems';

  if (issue.code === 'invalid_type') {
    if (
      fsField &&
      last === 'source' &&
      here.value !== null &&
      typeof here.value === 'object' &&
      !Array.isArray(here.value)
    ) {
      return [
        make(
          'HC_DEPRECATED_FIELD',
          path,
          `the map form of \`source\` is from the older API: write \`source: new\`, \`source: adopted\`, or omit \`source\` for a filesystem from the image. ${MIGRATE_HINT}`,
        ),
      ];
    }
    const expected = EXPECTED[issue.expected] ?? issue.expected;
    const hint =
      issue.expected === 'boolean'
        ? ' Only true/True/TRUE/false/False/FALSE are booleans (`yes`, `on` and quoted values are strings).'
        : here.value === null &&
            (issue.expected === 'array' || issue.expected === 'object' || issue.expected === 'record')
          ? ' An explicit `null` is not an empty value: leave the value empty, write `[]`/`{}`, or remove the key.'
          : '';
    return [
      make(
        'HC_INVALID_TYPE',
        path,
        `invalid type: found ${describe(here.value)}, expected ${expected}.${hint}`,
      ),
    ];
  }
  if (issue.code === 'invalid_value') {
    const values = issue.values.map((v) => `\`${String(v)}\``);
    const word = here.value instanceof PlainScalar ? here.value.text : String(here.value);
    if (fsField && last === 'source' && here.value !== null && typeof here.value === 'object') {
      return [
        make(
          'HC_DEPRECATED_FIELD',
          path,
          `the map form of \`source\` is from the older API: write \`source: new\`, \`source: adopted\`, or omit \`source\` for a filesystem from the image. ${MIGRATE_HINT}`,
        ),
      ];
    }
    if (fsField && last === 'source' && (word === 'create' || word === 'os-image')) {
      return [
        make(
          'HC_DEPRECATED_FIELD',
          path,
          `\`source: ${word}\` is from the older API: write ${word === 'create' ? '`source: new`' : 'nothing (the image is the default source)'}. ${MIGRATE_HINT}`,
        ),
      ];
    }
    if (fsField && last === 'type' && word === 'swap') {
      return [
        make(
          'HC_DEPRECATED_FIELD',
          path,
          `swap is no longer a filesystem type: list the device under \`storage.swap\` instead. ${MIGRATE_HINT}`,
        ),
      ];
    }
    if (typeof here.value !== 'string' && !(here.value instanceof PlainScalar)) {
      return [
        make(
          'HC_INVALID_TYPE',
          path,
          `invalid type: found ${describe(here.value)}, expected one of ${values.join(', ')}.`,
        ),
      ];
    }
    return [
      make(
        'HC_UNKNOWN_VARIANT',
        path,
        `unknown variant \`${word}\`, expected one of ${values.join(', ')}.${suggestion(word, issue.values.map(String))}`,
      ),
    ];
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    const bound =
      issue.code === 'too_small' ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
    return [
      make('HC_OUT_OF_RANGE', path, `value ${describe(here.value)} is out of range: it must be ${bound}.`),
    ];
  }
  if (issue.code === 'invalid_union') {
    // Report the branch the user evidently meant: the one that did not reject the value's shape.
    const branches = issue.errors.filter(
      (errs) => !errs.some((e) => e.path.length === 0 && e.code === 'invalid_type'),
    );
    const systemd =
      here.value !== null && typeof here.value === 'object' && Object.hasOwn(here.value, 'systemdServices');
    let chosen = branches.length === 1 ? branches[0] : undefined;
    if (chosen === undefined && branches.length > 1) {
      chosen = [...branches].sort((a, b) => a.length - b.length)[0];
      if (path.includes('checks')) chosen = systemd ? issue.errors[0] : issue.errors[1];
    }
    if (chosen !== undefined) return issuesToFindings(chosen, source, path);
    return [
      make(
        'HC_INVALID_TYPE',
        path,
        `invalid type: found ${describe(here.value)}, which matches none of the accepted forms${last === 'mountPoint' ? ' (a path string, or a map with `path` and optional `options`)' : last === 'swap' || path[1] === 'swap' ? ' (a device ID string, or a map with `deviceId`)' : ''}.`,
      ),
    ];
  }
  return [make('HC_INVALID_TYPE', path, `invalid value ${describe(here.value)}: ${issue.message}.`)];
}
