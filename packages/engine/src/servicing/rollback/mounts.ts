/** Reading `/proc/self/mountinfo` (fields: id, parent, major:minor, root, mount point, …). */
const decodeOctalEscapes = (field: string) =>
  field.replace(/\\([0-7]{3})/gu, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

/** Every mount point listed (octal escapes such as `\040` decoded). */
export function parseMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined && field !== '')
    .map(decodeOctalEscapes);
}

/** Mount points of device `majorMinor` where its whole filesystem is mounted (root `/`). */
export function rootMountsOf(mountinfo: string, majorMinor: string): string[] {
  return mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === majorMinor && fields[3] === '/' && fields[4] !== undefined)
    .map((fields) => decodeOctalEscapes(fields[4]!));
}
