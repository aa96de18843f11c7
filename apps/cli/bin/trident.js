#!/usr/bin/env node
// Installed entry point: runs the compiled CLI. In the workspace, `pnpm trident` runs the sources.
import '../dist/main.js';
