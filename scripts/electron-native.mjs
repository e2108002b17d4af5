#!/usr/bin/env node
// Builds better-sqlite3 for the installed Electron into native/electron-<version>/ (main/base/
// sqlite.ts loads it from there under Electron). node_modules keeps better-sqlite3's Node build,
// which tests and the command line use: one binary per runtime, side by side. The build happens in
// a copy of the package so the Node build is never touched. Like better-sqlite3's own install, it
// first fetches the prebuilt binary its release publishes for this Electron, else compiles from
// source against Electron's headers (node-gyp, as npm provides it to scripts).
// Run by `postinstall` (where a failure is reported but does not undo the whole install) and by
// `npm run native:electron`. Without the Electron binary (ELECTRON_SKIP_BINARY_DOWNLOAD=1, build
// machines) it says so in one line and does nothing.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const require = createRequire(join(root, 'package.json'));
const postinstall = process.argv.includes('--postinstall');
const electronVersion = require('electron/package.json').version;
const target = join(root, 'native', `electron-${electronVersion}`, 'better_sqlite3.node');

function electronBinary() {
  try {
    const path = require('electron');
    return existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: 'inherit' });
  return r.status === 0;
}

function build() {
  const sqliteDir = dirname(require.resolve('better-sqlite3/package.json'));
  mkdirSync(join(root, 'native'), { recursive: true });
  const stage = mkdtempSync(join(root, 'native', '.build-'));
  try {
    const pkg = join(stage, 'better-sqlite3');
    cpSync(sqliteDir, pkg, { recursive: true, filter: (src) => !src.startsWith(join(sqliteDir, 'build')) });
    const electronArgs = ['--runtime=electron', `--target=${electronVersion}`, `--arch=${process.arch}`];
    const prebuild = createRequire(join(sqliteDir, 'package.json')).resolve('prebuild-install/bin.js');
    const nodeGyp = process.env.npm_config_node_gyp;
    const built = run(process.execPath, [prebuild, ...electronArgs, `--platform=${process.platform}`], pkg)
      || (nodeGyp !== undefined && run(process.execPath, [nodeGyp, 'rebuild', '--release', ...electronArgs, '--dist-url=https://electronjs.org/headers'], pkg));
    const binary = join(pkg, 'build', 'Release', 'better_sqlite3.node');
    if (!built || !existsSync(binary)) {
      throw new Error(nodeGyp === undefined ? 'no prebuilt binary, and node-gyp is only available when run through npm ("npm run native:electron")' : 'both the prebuilt download and the build from source failed (see above)');
    }
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(binary, target);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (!electronBinary()) {
  console.log(`better-sqlite3 for Electron ${electronVersion}: skipped, the Electron binary is not installed (ELECTRON_SKIP_BINARY_DOWNLOAD?); "npm start" needs both.`);
} else if (existsSync(target) && !process.argv.includes('--force')) {
  console.log(`better-sqlite3 for Electron ${electronVersion}: already built (${target}).`);
} else {
  try {
    build();
    console.log(`better-sqlite3 for Electron ${electronVersion}: built into ${target}.`);
  } catch (err) {
    console.error(`better-sqlite3 for Electron ${electronVersion} could not be built: ${err.message}. "npm start" will not open projects until "npm run native:electron" succeeds.`);
    if (!postinstall) process.exitCode = 1;
  }
}
