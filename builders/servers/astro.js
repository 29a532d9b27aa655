'use strict';
// Astro with @astrojs/node in standalone mode: dist/server/entry.mjs run
// by node, dist/client served by the router. (Astro's templates start
// `astro dev`: a dev server, not used.)
const { collect } = require('./start.js');

module.exports = {
  name: 'Astro',
  env: { ASTRO_TELEMETRY_DISABLED: '1' },
  collect: (opts) => collect({ ...opts, pkg: {}, name: 'astro', defaultStart: 'node ./dist/server/entry.mjs',
    assets: [{ from: 'dist/client', immutable: '_astro' }] }),
};
