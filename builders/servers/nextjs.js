'use strict';
// Next.js as a Node server: built with `output: 'standalone'` (asked of
// `next build` through NEXT_PRIVATE_STANDALONE, so the project needs no
// change), its server one function on every route behind the bridge, its
// static assets (.next/static, public/) served by the router. A project
// that exports a static site (`output: 'export'`, `next export`) is served
// from out/ instead.
const fs = require('fs');
const path = require('path');
const { writeServerConfig } = require('./start.js');

const IMMUTABLE = 'public, max-age=31536000, immutable';

/// Whether the app's sources import next/font/google (its fonts are
/// downloaded from Google while it builds).
function usesGoogleFonts(workPath) {
  const seen = { n: 0 };
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (seen.n++ > 5000 || e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (walk(p)) return true;
      } else if (/\.(js|jsx|ts|tsx|mjs)$/.test(e.name) && fs.readFileSync(p, 'utf8').includes('next/font/google')) {
        return true;
      }
    }
    return false;
  };
  return ['app', 'pages', 'src'].some((d) => fs.existsSync(path.join(workPath, d)) && walk(path.join(workPath, d)));
}

let googleFonts = false;

module.exports = {
  name: 'Next.js',
  /// what the build step gets in its environment
  env: { NEXT_PRIVATE_STANDALONE: 'true', NEXT_TELEMETRY_DISABLED: '1' },

  prepare({ workPath, log }) {
    googleFonts = usesGoogleFonts(workPath);
    if (googleFonts)
      log('ferry: next.js: next/font/google downloads its fonts from Google while the app builds');
  },

  /// what a failed build adds to its error
  failureHint: () => (googleFonts
    ? '; the app uses next/font/google, whose fonts are downloaded while it builds: this ' +
      'cluster\'s builds could not reach Google Fonts (fonts.googleapis.com and ' +
      'fonts.gstatic.com, in build_egress_allow by default, and the nodes must reach them). ' +
      'Self-host the fonts with next/font/local, or ask the operator (docs/compatibility.md)'
    : ''),

  /// The build's output as ferry's; null: a static export (served as files).
  collect({ workPath, outputPath, config, log }) {
    const standalone = path.join(workPath, '.next', 'standalone');
    if (!fs.existsSync(path.join(standalone, 'server.js'))) {
      if (fs.existsSync(path.join(workPath, 'out'))) return null; // output: 'export'
      throw new Error('next build made no .next/standalone/server.js (a distDir other than .next ' +
                      'is not supported by ferry yet; set it back, or use output: \'export\')');
    }
    const fn = path.join(outputPath, 'functions', 'index.func');
    fs.cpSync(standalone, fn, { recursive: true, verbatimSymlinks: true });
    // what the standalone server leaves to a CDN: the router serves it
    const assets = path.join(workPath, '.next', 'static');
    if (fs.existsSync(assets))
      fs.cpSync(assets, path.join(outputPath, 'static', '_next', 'static'), { recursive: true });
    if (fs.existsSync(path.join(workPath, 'public')))
      fs.cpSync(path.join(workPath, 'public'), path.join(outputPath, 'static'), { recursive: true });
    writeServerConfig(fn, 'server.js', config);
    log('ferry: next.js: the standalone server on every route, .next/static and public/ as files');
    return {
      routes: [
        { src: '^/_next/static/(?:.+)$', headers: { 'cache-control': IMMUTABLE }, continue: true },
        { handle: 'filesystem' },
        // a missing build asset is a 404, not a page
        { src: '^/_next/static/.+$', status: 404 },
        { src: '^/(.*)$', dest: '/index' },
      ],
    };
  },
};
