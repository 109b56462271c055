#!/usr/bin/env node
// The command-line entry point. The program is compiled from src/cli/ into dist/, and bundled into
// dist/cli/ (a few files load faster than the ~150 modules of dist/src/: see scripts/build.mjs).
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(existsSync(bundled) ? bundled.href : '../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
