'use strict';
// React Router in framework mode (and Remix, its former name): the start
// script (`react-router-serve ./build/server/index.js`, `remix-serve ...`),
// build/client served by the router.
const { collect } = require('./start.js');

module.exports = {
  name: 'React Router',
  env: {},
  collect: (opts) => collect({ ...opts, name: 'react-router',
    defaultStart: 'react-router-serve ./build/server/index.js',
    assets: [{ from: 'build/client', immutable: 'assets' }] }),
};
