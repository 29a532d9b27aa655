'use strict';
// Nuxt: Nitro's node-server preset (NITRO_PRESET), its .output/server run
// by node, .output/public served by the router. (Nuxt's own start script,
// if any, is `nuxt preview`: a dev tool, not used.)
const { collect } = require('./start.js');

module.exports = {
  name: 'Nuxt',
  env: { NITRO_PRESET: 'node-server', NUXT_TELEMETRY_DISABLED: '1' },
  collect: (opts) => collect({ ...opts, pkg: {}, name: 'nuxt', defaultStart: 'node .output/server/index.mjs',
    assets: [{ from: '.output/public', immutable: '_nuxt' }] }),
};
