/** A location in the document: object keys and list indexes from the root. */
export type Path = readonly (string | number)[];

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['storage', 'filesystems', 2, 'source']` -> `storage.filesystems[2].source`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (IDENT.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}
