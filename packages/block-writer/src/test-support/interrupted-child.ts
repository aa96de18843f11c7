/**
 * Plays the engine up to the point where it would write the GPT, then waits to be killed:
 * open, safety, wipe, first partition image, sync. Run by interrupted.test.ts as a child process.
 * argv: <target path> <fixture dir> <required size>
 */

import { readFileSync } from 'node:fs';
import { openBlockTarget } from '../block-target.ts';
import { checkTargetSafety } from '../safety.ts';
import { wipeSignatures } from '../write-gpt.ts';

const [path, imageFile, offset, requiredSize] = process.argv.slice(2);
if (path === undefined || imageFile === undefined || offset === undefined || requiredSize === undefined) {
  throw new Error('usage: interrupted-child <target> <image> <offset> <required size>');
}
const target = await openBlockTarget(path);
await checkTargetSafety(target, { requiredSize: Number(requiredSize), lbaSize: 512 });
await wipeSignatures(target);
await target.writeAt(new Uint8Array(readFileSync(imageFile)), Number(offset));
await target.sync();
process.stdout.write('ready\n');
setInterval(() => undefined, 1000);
