/** Process entry of `tridentd` (workspace: `node --conditions=@trident/source apps/daemon/src/main.ts`). */
import { runDaemonCli } from './cli.ts';

process.exit(await runDaemonCli(process.argv.slice(2)));
