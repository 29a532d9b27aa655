#!/usr/bin/env node
// The Node shim of the build pipeline: detects the framework, loads the
// builder module and calls it. usage: node starter.js SRC OUT [CACHE]
'use strict';
const fs = require('fs');
const { compileVercelRouting, mergeRoutes, ROUTING_KEYS } = require('./vercel-routes.js');
const path = require('path');
const { frameworkOf } = require('./frameworks.js');
const { buildMiddleware, MIDDLEWARE } = require('./middleware.js');

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

/// vercel.json's keys that ferry reads, and those it does not yet: a
/// project that uses one of the latter fails its build and says which,
/// rather than deploy without it (docs/compatibility.md).
const VERCEL_KEYS = new Set(['$schema', 'routes', ...ROUTING_KEYS, 'version', 'buildCommand', 'outputDirectory', 'installCommand',
  'framework', 'functions', 'public', 'github', 'git', 'name', 'scope', 'regions', 'env', 'build',
  'devCommand', 'ignoreCommand']);
const VERCEL_LATER = ['crons', 'images'];

/// The configuration a build reads: vercel.json's keys, then ferry.json's
/// over them (ferry.json wins, as project settings win on Vercel).
function loadConfig(src) {
  const ferry = readJson(path.join(src, 'ferry.json')) || {};
  const vercel = readJson(path.join(src, 'vercel.json')) || {};
  for (const [name, doc] of [['ferry.json', ferry], ['vercel.json', vercel]])
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${name} is not a JSON object`);
  const later = VERCEL_LATER.filter((k) => k in vercel || k in ferry);
  if (later.length)
    throw new Error(`${later.join(', ')} in ${'vercel.json'}: not supported by ferry yet ` +
                    '(docs/compatibility.md); the build stops rather than serve the site without them');
  const unknown = Object.keys(vercel).filter((k) => !VERCEL_KEYS.has(k));
  if (unknown.length) throw new Error(`vercel.json: unknown key(s) ${unknown.join(', ')}`);
  if (vercel.env || vercel.build) console.log('ferry: vercel.json "env" and "build.env" are ignored: set variables with `ferry env add`');
  const config = {};
  for (const k of ['buildCommand', 'outputDirectory', 'installCommand', 'framework', 'functions', 'routes',
    ...ROUTING_KEYS])
    if (vercel[k] !== undefined) config[k] = vercel[k];
  Object.assign(config, ferry);
  for (const k of ['buildCommand', 'outputDirectory'])
    if (config[k] !== undefined && config[k] !== null && typeof config[k] !== 'string')
      throw new Error(`${k} is a string`);
  if (config.functions !== undefined && (typeof config.functions !== 'object' || Array.isArray(config.functions)))
    throw new Error('functions is an object: {"api/x.js": {"memory": 512, "maxDuration": 30}}');
  return config;
}

/// The project's Routing Middleware (middleware.js at its root or in src/),
/// if it has one ferry builds (builders/middleware.js); Next.js's and
/// Astro's middleware is the framework's own: its server runs it.
function middlewareOf(src, files, pkg, config) {
  const mw = files.find((f) => MIDDLEWARE.test(f));
  const fw = mw && frameworkOf(pkg, config, src);
  if (!mw || (fw && ['nextjs', 'astro'].includes(fw.slug))) return null;
  if (fs.existsSync(path.join(src, '.vercel', 'output', 'config.json')))
    throw new Error(`${mw} next to a prebuilt .vercel/output: ferry runs the output as it is, and its ` +
                    'middlewarePath is not supported yet; deploy the project without .vercel/output to build it');
  return mw;
}

function detect(src, config, pkg) {
  if (config.builder) return config.builder;
  if (fs.existsSync(path.join(src, '.vercel', 'output', 'config.json'))) return 'prebuilt';
  if (typeof config.buildCommand === 'string' || (pkg && pkg.scripts && pkg.scripts.build)) return 'static-build';
  if (frameworkOf(pkg, config)) return 'static-build'; // (one that needs a build says so there)
  if (fs.existsSync(path.join(src, 'api'))) return 'node';
  if (pkg && (pkg.main || (pkg.scripts && pkg.scripts.start))) return 'node';
  if (fs.existsSync(path.join(src, 'server.js'))) return 'node';
  // a server framework's app without a start script (Vercel's Express and
  // Hono templates: the app the default export of src/index.js)
  const deps = { ...((pkg && pkg.dependencies) || {}) };
  if (['express', 'hono', 'fastify', 'koa', 'h3', 'elysia'].some((d) => deps[d])) return 'node';
  return 'static';
}

async function main() {
  const [src, out, cache] = process.argv.slice(2);
  if (!src || !out) throw new Error('usage: starter.js SRC OUT [CACHE]');
  const config = loadConfig(src);
  const userRoutes = compileVercelRouting(config); // (a mistake in them stops the build first)
  const pkg = readJson(path.join(src, 'package.json'));
  const files = listFiles(src);
  const middleware = middlewareOf(src, files, pkg, config);
  const name = detect(src, config, pkg);
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !fs.existsSync(path.join(__dirname, name, 'index.js'))) {
    throw new Error(`unknown builder "${name}" (known: static, node, static-build, prebuilt)`);
  }
  console.log(`ferry: builder ${name}`);
  const builder = require(path.join(__dirname, name, 'index.js'));
  fs.mkdirSync(out, { recursive: true });
  const result = await builder({
    files,
    entrypoint: config.entrypoint || (pkg && pkg.main) || null,
    workPath: src,
    outputPath: out,
    config,
    pkg: pkg || {},
    cache: cache && fs.existsSync(cache) ? cache : null,
    log: (line) => console.log(line),
  });
  let routes = (result && result.routes) || [];
  // a built site with functions in api/ (a Vite app and its API, say): both
  if (name === 'static-build' && !(result && result.serverApp) && files.some((f) => /^api\/.+\.(js|mjs|cjs|ts)$/.test(f))) {
    const node = require(path.join(__dirname, 'node', 'index.js'));
    const fns = await node({ files, workPath: src, outputPath: out, config, pkg: pkg || {},
                             functionsOnly: true, log: (line) => console.log(line) });
    routes.push(...fns.routes);
  }
  // vercel.json's (or ferry.json's) routing, before the builder's in each phase
  const user = userRoutes;
  if (user.length && name === 'prebuilt')
    console.log('ferry: the routing keys of vercel.json are not used: .vercel/output/config.json has the routes');
  else if (user.length) {
    routes = mergeRoutes(user, routes);
    console.log(`ferry: ${user.length} route(s) from ${fs.existsSync(path.join(src, 'vercel.json')) ? 'vercel.json' : 'ferry.json'}`);
  }
  // the middleware runs before every route (the router takes it from the first)
  if (middleware)
    routes.unshift(await buildMiddleware({ file: middleware, files, workPath: src, outputPath: out,
                                           pkg, log: (line) => console.log(line) }));
  if (routes.length > 2048) throw new Error(`${routes.length} routes in all, over the 2048 the router takes`);
  const doc = { version: 3, builder: name, routes };
  if (result && result.overrides && Object.keys(result.overrides).length) doc.overrides = result.overrides;
  const text = JSON.stringify(doc, null, routes.length > 200 ? 0 : 2) + '\n';
  if (text.length > 8 << 20) throw new Error(`config.json would be ${text.length} bytes, over the 8 MiB the router reads`);
  fs.writeFileSync(path.join(out, 'config.json'), text);
}

main().catch((e) => {
  console.error(`ferry: build failed: ${e.message}`);
  process.exit(1);
});
