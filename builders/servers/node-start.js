'use strict';
// A Node server built first (a TypeScript Hono or Express app: `tsc`, then
// `node dist/index.js`): its start script, run in the bridge; public/ served
// by the router.
const { collect } = require('./start.js');

module.exports = {
  name: 'Node server',
  env: {},
  collect: (opts) => collect({ ...opts, name: 'node', assets: [{ from: 'public' }] }),
};
