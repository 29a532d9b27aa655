'use strict';
// Routing Middleware, as Vercel runs it for any project: `middleware.js`
// (or .mjs, .ts) at the project's root or in src/, whose default export
// (or `middleware` export) takes a Request and returns a Response (the
// answer), `next()` (go on, with headers), `rewrite(url)` (go on at
// another path of this deployment) or nothing (go on), and whose
// `config.matcher` says on which paths it runs (path-to-regexp, like
// vercel.json's sources; every path without one). It becomes the
// function `_middleware` and the first route of the output
// ({src, middlewarePath, continue}); the router calls it before the
// routes (deployers/local/router_middleware.cpp). (Next.js's and Astro's
// middleware is the framework's own and never comes here.)
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { pathToFileURL } = require('url');

const node = require('./node/index.js');
const { sourceToRegex, checkRoute } = require('./vercel-routes.js');

const NAME = '_middleware';

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/// config.matcher as patterns of whole paths: [{src, not}], a path matching
/// one's src and not its not. The idiom of a negative look-ahead
/// ("/((?!api|_next/static|favicon.ico).*)", which RE2 does not run) is
/// such a pair: every path below the prefix but those the alternatives begin.
function matcherOf(matcher, file) {
  if (matcher === undefined) return [{ src: '^/.*$' }];
  const list = Array.isArray(matcher) ? matcher : [matcher];
  if (!list.length) throw new Error(`${file}: config.matcher is empty`);
  return list.map((m, i) => {
    const what = `${file}: config.matcher[${i}]`;
    if (m && typeof m === 'object') {
      if (m.has || m.missing)
        throw new Error(`${what}: "has" and "missing" in a matcher are not supported by ferry yet`);
      m = m.source;
    }
    if (typeof m !== 'string') throw new Error(`${what} is a path pattern ("/about/:path*")`);
    const ahead = m.match(/^(\/[^()?*+:\\]*)\(\(\?!([^()]+)\)\.\*\)$/);
    const out = ahead
      ? { src: sourceToRegex(`${ahead[1]}(.*)`, what).src, not: `^${escapeRe(ahead[1])}(?:${ahead[2]}).*$` }
      : { src: sourceToRegex(m, what).src };
    for (const p of [out.src, out.not].filter(Boolean))
      checkRoute({ src: p }, `${file}: config.matcher`); // (look-around: RE2 does not run it)
    return out;
  });
}

/// A middleware.js written as an ES module (as Vercel's docs write it) in a
/// CommonJS package: a copy that Node.js loads as one (.mjs).
function asModule(workPath, rel, pkg) {
  if (!rel.endsWith('.js') || (pkg && pkg.type === 'module')) return rel;
  const text = fs.readFileSync(path.join(workPath, rel), 'utf8');
  if (!/^\s*(import|export)\b/m.test(text)) return rel;
  const copy = rel.replace(/\.js$/, '.ferry.mjs');
  fs.writeFileSync(path.join(workPath, copy), text);
  return copy;
}

/// The middleware as a function of the output, and its route.
async function buildMiddleware({ file, files, workPath, outputPath, pkg, log }) {
  if (file.endsWith('.mts')) throw new Error(`${file}: write it as .ts (or .js, .mjs)`);
  const compiled = file.endsWith('.ts') ? node.compileTypeScript(workPath, [file], log) : [];
  // [file in the project, file in the function]
  const [from, entry] = compiled.length ? compiled[0] : [asModule(workPath, file, pkg), asModule(workPath, file, pkg)];
  // its config, read by loading it in a process of its own (what it starts
  // while it loads ends there, never in the builder's)
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `
    const mod = await import(${JSON.stringify(pathToFileURL(path.join(workPath, from)).href)});
    const own = mod.default && typeof mod.default === 'object' && 'default' in mod.default ? mod.default.default : mod.default;
    const config = mod.config || (mod.default && mod.default.config) || {};
    process.stdout.write('\\n@ferry@' + JSON.stringify({ fn: typeof (own || mod.middleware) === 'function',
                                                      matcher: config.matcher }) + '\\n');
    process.exit(0);`], { cwd: workPath, encoding: 'utf8', timeout: 60000, maxBuffer: 16 << 20 });
  const said = (probe.stdout || '').split('\n').find((l) => l.startsWith('@ferry@'));
  if (!said)
    throw new Error(`${file}: it cannot be loaded to read its config: ` +
                    `${(probe.stderr || '').trim().split('\n').slice(-3).join(' ') || `exit ${probe.status}`}`);
  const { fn, matcher } = JSON.parse(said.slice('@ferry@'.length));
  if (!fn) throw new Error(`${file}: its default export (or "middleware") is not a function`);
  const config = { matcher };
  const matchers = matcherOf(config.matcher, file);
  const dir = path.join(outputPath, 'functions', `${NAME}.func`);
  const skip = Object.keys((pkg && pkg.devDependencies) || {}).map((d) => `node_modules/${d}/`);
  node.copy(workPath, files, dir, skip);
  fs.mkdirSync(path.dirname(path.join(dir, entry)), { recursive: true });
  fs.copyFileSync(path.join(workPath, from), path.join(dir, entry));
  // the bridge calls a Web handler (config.runtime edge) with the Request;
  // nothing returned is "go on"
  fs.writeFileSync(path.join(dir, '.ferry-middleware.mjs'), `// ferry: ${file} as a Web handler (builders/middleware.js)
import * as mod from ${JSON.stringify('./' + entry)};
const own = mod.default && typeof mod.default === 'object' && 'default' in mod.default ? mod.default.default : mod.default;
const middleware = typeof own === 'function' ? own : mod.middleware;
export const config = { runtime: 'edge' };
export default async function (request, context) {
  const answer = await middleware(request, context);
  return answer == null ? new Response(null, { headers: { 'x-middleware-next': '1' } }) : answer;
}
`);
  fs.writeFileSync(path.join(dir, '.vc-config.json'), JSON.stringify({
    runtime: 'nodejs20.x',
    handler: '.ferry-middleware.mjs',
    launcherType: 'Nodejs',
    shouldAddHelpers: false,
    memory: 256,
    maxDuration: 10,
  }, null, 2) + '\n');
  log(`ferry: middleware: ${file} runs before the routes on ${config.matcher === undefined ? 'every path' : JSON.stringify(config.matcher)}`);
  // (src: every path of its matchers, as Vercel's route has it; ferry's
  // router reads matchers, which say which paths it excludes)
  const src = matchers.length === 1 ? matchers[0].src : matchers.map((m) => `(?:${m.src})`).join('|');
  return { src, middlewarePath: NAME, continue: true, matchers };
}

module.exports = { buildMiddleware, matcherOf, MIDDLEWARE: /^(src\/)?middleware\.(js|mjs|cjs|ts|mts)$/ };
