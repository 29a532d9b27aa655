'use strict';
// SvelteKit with adapter-node: its build/ server (`node build`), the client
// assets and prerendered pages also served by the router.
const { collect } = require('./start.js');

module.exports = {
  name: 'SvelteKit',
  env: {},
  collect: (opts) => collect({ ...opts, name: 'sveltekit', defaultStart: 'node build',
    assets: [{ from: 'build/client', immutable: '_app/immutable' }, { from: 'build/prerendered' }] }),
};
