#!/usr/bin/env node
// Installed entry point: runs the compiled daemon. In the workspace, run the sources with
// `node --conditions=@trident/source apps/daemon/src/main.ts`.
import '../dist/main.js';
