#!/usr/bin/env node
// The Node shim of the build pipeline: detects the framework, loads the
// builder module and calls it. usage: node starter.js SRC OUT [CACHE]
'use strict';
const fs = require('fs');
const path = require('path');

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw new Error(`${path.basename(file)} is not valid JSON: ${e.message}`);
  }
}

function listFiles(root, rel = '') {
  const out = [];
  for (const ent of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const sub = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...listFiles(root, sub));
    else out.push(sub);
  }
  return out.sort();
}

function detect(src, config, pkg) {
  if (config.builder) return config.builder;
  if (pkg && pkg.scripts && pkg.scripts.build) return 'static-build';
  if (fs.existsSync(path.join(src, 'api'))) return 'node';
  if (pkg && (pkg.main || (pkg.scripts && pkg.scripts.start))) return 'node';
  if (fs.existsSync(path.join(src, 'server.js'))) return 'node';
  return 'static';
}

async function main() {
  const [src, out, cache] = process.argv.slice(2);
  if (!src || !out) throw new Error('usage: starter.js SRC OUT [CACHE]');
  const config = readJson(path.join(src, 'ferry.json')) || {};
  const pkg = readJson(path.join(src, 'package.json'));
  const name = detect(src, config, pkg);
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !fs.existsSync(path.join(__dirname, name, 'index.js'))) {
    throw new Error(`unknown builder "${name}" (known: static, node, static-build)`);
  }
  console.log(`ferry: builder ${name}`);
  const builder = require(path.join(__dirname, name, 'index.js'));
  fs.mkdirSync(out, { recursive: true });
  const result = await builder({
    files: listFiles(src),
    entrypoint: config.entrypoint || (pkg && pkg.main) || null,
    workPath: src,
    outputPath: out,
    config,
    cache: cache && fs.existsSync(cache) ? cache : null,
    log: (line) => console.log(line),
  });
  const routes = (result && result.routes) || [];
  fs.writeFileSync(path.join(out, 'config.json'),
                   JSON.stringify({ version: 3, builder: name, routes }, null, 2) + '\n');
}

main().catch((e) => {
  console.error(`ferry: build failed: ${e.message}`);
  process.exit(1);
});
