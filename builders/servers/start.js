'use strict';
// A framework whose build makes a Node server, run as its start script
// would run it (`node build`, `react-router-serve ./build/server/index.js`,
// `node .output/server/index.mjs`): the built project is one function on
// every route, started by a launcher that runs that command in the
// bridge's process (the server's listen() is pointed at the bridge).
const fs = require('fs');
const path = require('path');

/// "NAME=value ... [node] FILE|BIN ARGS" as {env, file, args}.
function parseStart(command, workPath) {
  const words = command.trim().split(/\s+/);
  const env = {};
  while (words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
    const [k, ...v] = words.shift().split('=');
    env[k] = v.join('=');
  }
  if (words[0] === 'cross-env') {
    words.shift();
    while (words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
      const [k, ...v] = words.shift().split('=');
      env[k] = v.join('=');
    }
  }
  if (!words.length || /[;&|<>`$()]/.test(command))
    throw new Error(`the start script "${command}" is not one command ferry can run as a server`);
  let file;
  if (words[0] === 'node') {
    words.shift();
    while (words.length && words[0].startsWith('-')) words.shift(); // (node's own flags)
    file = words.shift();
    if (!file) throw new Error(`the start script "${command}" names no file`);
    let full = path.resolve(workPath, file);
    if (fs.existsSync(full) && fs.statSync(full).isDirectory()) {
      const main = ['index.js', 'index.mjs', 'index.cjs'].find((f) => fs.existsSync(path.join(full, f)));
      if (!main) throw new Error(`the start script runs ${file}/, which has no index.js`);
      full = path.join(full, main);
    } else if (!fs.existsSync(full)) {
      const ext = ['.js', '.mjs', '.cjs'].find((e) => fs.existsSync(full + e));
      if (!ext) throw new Error(`the start script runs ${file}, which the build did not make`);
      full += ext;
    }
    file = path.relative(workPath, full);
  } else {
    const bin = path.join(workPath, 'node_modules', '.bin', words.shift());
    if (!fs.existsSync(bin)) throw new Error(`the start script runs ${path.basename(bin)}, which is not installed`);
    file = path.relative(workPath, fs.realpathSync(bin));
  }
  if (file.split(path.sep).includes('..')) throw new Error('the start script runs a file outside the project');
  return { env, file, args: words };
}

/// The launcher: the command's environment and argv, the file imported,
/// and the import held until the server listens (some start after an await).
function launcher({ env, file, args }) {
  return `// ferry: runs the project's start script as a server (builders/servers/start.js)
import fs from 'node:fs';
import http from 'node:http';
import Module from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
const here = path.dirname(fileURLToPath(import.meta.url));
process.chdir(here);
process.env.NODE_ENV ??= 'production';
Object.assign(process.env, ${JSON.stringify(env)});
const file = path.join(here, ${JSON.stringify(file)});
process.argv = [process.argv[0], file, ...${JSON.stringify(args)}];
const listening = new Promise((resolve) => {
  const listen = http.Server.prototype.listen;
  http.Server.prototype.listen = function (...a) {
    const r = listen.apply(this, a);
    resolve();
    return r;
  };
});
// a CommonJS file runs as node runs its main module (require.main is it:
// CLIs check that, and find their files from it); ESM is imported
const commonJS = (() => {
  if (/\.(mjs|mts)$/.test(file)) return false;
  if (/\.(cjs|cts)$/.test(file)) return true;
  for (let d = path.dirname(file); ; d = path.dirname(d)) {
    try {
      return JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).type !== 'module';
    } catch (e) {
      if (e.code !== 'ENOENT' || d === path.dirname(d)) return true;
    }
  }
})();
if (commonJS) Module._load(file, null, true);
else await import(pathToFileURL(file).href);
let timer;
await Promise.race([listening, new Promise((_, reject) => {
  timer = setTimeout(() => reject(new Error('the start script did not start a server within 30 s')), 30000);
})]);
clearTimeout(timer);
`;
}

/// A server (a framework's, a whole app's) as a function's .vc-config.json:
/// its handler, no helpers (it answers itself), memory MB (1024 unless
/// given) and 30 s unless ferry.json's "app" says otherwise.
function writeServerConfig(fn, handler, config, memory = 1024) {
  const app = config.app || {};
  fs.writeFileSync(path.join(fn, '.vc-config.json'), JSON.stringify({
    runtime: 'nodejs20.x',
    handler,
    launcherType: 'Nodejs',
    shouldAddHelpers: false,
    memory: app.memory || memory,
    maxDuration: app.maxDuration || 30,
  }, null, 2) + '\n');
}

/// The built project as a function started by its start script (or
/// defaultStart); assets: folders to serve from the router as well
/// ({from, at, immutable}).
function collect({ workPath, outputPath, config, pkg, log, defaultStart, assets = [], name }) {
  const command = (pkg && pkg.scripts && pkg.scripts.start) || defaultStart;
  if (!command) throw new Error(`${name}: no start script to run its server (package.json "start")`);
  const start = parseStart(command, workPath);
  const fn = path.join(outputPath, 'functions', 'index.func');
  const dev = Object.keys((pkg && pkg.devDependencies) || {}).map((d) => path.join(workPath, 'node_modules', d));
  fs.cpSync(workPath, fn, {
    recursive: true,
    verbatimSymlinks: true,
    // (what the server does not need: the tools that built it, git, caches)
    filter: (src) => !dev.includes(src) && !/[\\/](\.git|\.cache|\.vercel)$/.test(src),
  });
  fs.writeFileSync(path.join(fn, '.ferry-start.mjs'), launcher(start));
  writeServerConfig(fn, '.ferry-start.mjs', config);
  const routes = [];
  for (const a of assets) {
    const from = path.join(workPath, a.from);
    if (!fs.existsSync(from)) continue;
    fs.cpSync(from, path.join(outputPath, 'static', a.at || ''), { recursive: true });
    if (a.immutable) routes.push({ src: `^/${a.immutable}/.+$`, headers: { 'cache-control': 'public, max-age=31536000, immutable' }, continue: true });
  }
  log(`ferry: ${name}: the server of "${command}" on every route${assets.length ? ', its assets as files' : ''}`);
  return { routes: [...routes, { handle: 'filesystem' }, { src: '^/(.*)$', dest: '/index' }] };
}

module.exports = { collect, parseStart, writeServerConfig };
