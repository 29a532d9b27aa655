'use strict';
// SvelteKit with adapter-node: its build/ server (`node build`), the client
// assets and prerendered pages also served by the router. A project on
// adapter-auto (the default of `sv create`), which finds no platform it
// knows here, is built with adapter-node in its place: ferry installs it
// (FERRY_PM_EXTRAS, sandbox/package_manager.cpp) and, in the build's copy
// of the source, the config that imports adapter-auto imports it instead.
const fs = require('fs');
const path = require('path');
const { collect } = require('./start.js');

function prepare({ workPath, log }) {
  // (the adapter is named in svelte.config.js, or, lately, in vite.config's sveltekit())
  const files = ['svelte.config.js', 'svelte.config.ts', 'vite.config.js', 'vite.config.ts', 'vite.config.mjs']
    .map((f) => path.join(workPath, f))
    .filter((f) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('@sveltejs/adapter-auto'));
  if (!files.length) return;
  if (!fs.existsSync(path.join(workPath, 'node_modules', '@sveltejs', 'adapter-node')))
    throw new Error('SvelteKit on adapter-auto: adapter-node, which ferry builds it with, is not installed');
  for (const f of files)
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replaceAll('@sveltejs/adapter-auto', '@sveltejs/adapter-node'));
  log(`ferry: sveltekit: adapter-auto finds no platform here: built with adapter-node (${files.map((f) => path.basename(f)).join(', ')})`);
}

module.exports = {
  name: 'SvelteKit',
  env: {},
  prepare,
  collect: (opts) => collect({ ...opts, name: 'sveltekit', defaultStart: 'node build',
    assets: [{ from: 'build/client', immutable: '_app/immutable' }, { from: 'build/prerendered' }] }),
};
