'use strict';
// The Node builder: every api/**/*.{js,mjs,cjs,ts} becomes a function with
// its own route; the rest of the project ships with each function (so that
// relative imports resolve); public/ (or, without one, the project's other
// files) is served as static files.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const servableFromRoot = require('../servable.js');
const start = require('../servers/start.js');

const FUNCTION = /^api\/(.+)\.(js|mjs|cjs|ts)$/;

/// A function that asks for the Edge runtime runs on Node.js here, with the
/// Web APIs its entry expects (Request, Response, fetch, crypto.subtle):
/// the bridge calls its default export with a Request. Said in the log.
function refuseEdge(workPath, f) {
  const text = fs.readFileSync(path.join(workPath, f), 'utf8');
  if (/\bruntime\s*:\s*['"](experimental-)?edge['"]/.test(text))
    console.log(`ferry: node: ${f} asks for the Edge runtime: it runs on Node.js ${process.version} with the Web APIs`);
}

/// A glob ("api/**/*.js", "data/*.json", "file?.txt") as a RegExp of paths.
function globRe(pattern) {
  return new RegExp('^' + pattern.split(/(\*\*\/|\*\*|\*|\?)/).map((part) =>
    part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]'
      : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('') + '$');
}

/// A function's settings in "functions" (ferry.json or vercel.json): keys
/// are paths or globs ("api/**/*.js"); later matches win over earlier.
function settingsOf(fnConfig, f) {
  const out = {};
  for (const [pattern, value] of Object.entries(fnConfig))
    if (globRe(pattern).test(f) && value && typeof value === 'object') Object.assign(out, value);
  for (const k of ['memory', 'maxDuration'])
    if (out[k] !== undefined && (typeof out[k] !== 'number' || !(out[k] > 0)))
      throw new Error(`functions: ${k} of ${f} is a positive number`);
  for (const k of ['includeFiles', 'excludeFiles']) {
    if (out[k] === undefined) continue;
    const globs = Array.isArray(out[k]) ? out[k] : [out[k]];
    if (!globs.length || globs.some((g) => typeof g !== 'string' || !g || g.startsWith('/') || g.split('/').includes('..')))
      throw new Error(`functions: ${k} of ${f} is a glob (or a list of globs) of the project's files`);
    out[k] = globs.map((g) => globRe(g.replace(/^\.\//, '')));
  }
  return out;
}

/// Every file under root (not node_modules or .git, which ship as they are),
/// relative to it.
function filesUnder(root, rel = '', out = []) {
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const sub = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== '.git') filesUnder(root, sub, out);
    } else {
      out.push(sub);
    }
  }
  return out;
}

/// includeFiles: files the build made (or any of the project's) copied in
/// with the function; excludeFiles: left out of it (never its handler).
function includeExclude(workPath, dir, own, handler) {
  if (own.includeFiles) {
    for (const f of filesUnder(workPath)) {
      if (!own.includeFiles.some((re) => re.test(f)) || fs.existsSync(path.join(dir, f))) continue;
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      const from = path.join(workPath, f);
      if (fs.lstatSync(from).isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), path.join(dir, f));
      else fs.copyFileSync(from, path.join(dir, f));
    }
  }
  if (own.excludeFiles) {
    for (const f of filesUnder(dir))
      if (f !== handler && f !== '.vc-config.json' && own.excludeFiles.some((re) => re.test(f)))
        fs.unlinkSync(path.join(dir, f));
  }
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/// The route of a function, as Vercel's file-system routing has it:
/// api/index.js answers /api, api/users/[id].js /api/users/ANY (id in the
/// query), [...slug] one or more segments, [[...slug]] none or more (the
/// last segment only). rank orders them: fixed paths first, then [param],
/// then catch-alls, then optional ones; deeper before shallower.
function routeOf(name) {
  const segs = name.split('/');
  const index = segs[segs.length - 1] === 'index';
  if (index) segs.pop();
  let src = '/api';
  const params = [];
  let rank = 0;
  let optional = false;
  segs.forEach((seg, i) => {
    const last = i === segs.length - 1;
    let m;
    if ((m = seg.match(/^\[\[\.\.\.([A-Za-z_$][\w$]*)\]\]$/)) && last) {
      src += '(?:/(.+))?';
      params.push(m[1]);
      rank = Math.max(rank, 3);
      optional = true;
    } else if ((m = seg.match(/^\[\.\.\.([A-Za-z_$][\w$]*)\]$/)) && last) {
      src += '/(.+)';
      params.push(m[1]);
      rank = Math.max(rank, 2);
    } else if ((m = seg.match(/^\[([A-Za-z_$][\w$]*)\]$/))) {
      src += '/([^/]+)';
      params.push(m[1]);
      rank = Math.max(rank, 1);
    } else if (/[[\]]/.test(seg)) {
      throw new Error(`api/${name}: "${seg}" is no route segment ([name], [...name] or, last, [[...name]])`);
    } else {
      src += `/${escapeRe(seg)}`;
    }
  });
  if (new Set(params).size !== params.length) throw new Error(`api/${name}: a parameter is named twice`);
  if (index) src += '(?:/index)?/?';
  return { src, params, rank, optional, depth: segs.length };
}

function copy(workPath, files, dest, skip) {
  for (const f of files) {
    if (f.startsWith('public/') || skip.some((p) => f.startsWith(p))) continue;
    const to = path.join(dest, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    const from = path.join(workPath, f);
    // a link as a link (pnpm's node_modules are links into node_modules/.pnpm);
    // one that leaves the tree is refused when the output is stored
    if (fs.lstatSync(from).isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else fs.copyFileSync(from, to);
  }
}

/// Compiles the TypeScript functions with the project's own `typescript`
/// (a dependency, installed like any other) into CommonJS next to their
/// sources; returns [compiled file, its path in a function] pairs.
function compileTypeScript(workPath, functions, log) {
  const ts = functions.filter((f) => f.endsWith('.ts'));
  if (ts.length === 0) return [];
  const tsc = path.join(workPath, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(tsc)) {
    throw new Error('TypeScript functions need "typescript" in package.json (and a lockfile)');
  }
  const outDir = '.ferry-ts';
  const run = spawnSync(process.execPath, [tsc, '--outDir', outDir, '--rootDir', '.',
    '--module', 'commonjs', '--target', 'es2020', '--esModuleInterop', '--skipLibCheck',
    '--strict', ...ts], { cwd: workPath, encoding: 'utf8' });
  if (run.stdout) run.stdout.split('\n').filter(Boolean).forEach((l) => log(`tsc: ${l}`));
  if (run.status !== 0) throw new Error(`tsc failed (exit ${run.status})`);
  log(`ferry: node: compiled ${ts.length} TypeScript function(s)`);
  return ts.map((f) => [`${outDir}/${f.replace(/\.ts$/, '.js')}`, f.replace(/\.ts$/, '.js')]);
}

/// A TypeScript app's entry (Vercel's Hono and Express templates:
/// src/index.ts, without a build) compiled with the project's typescript
/// into .ferry-ts/ of the function (CommonJS, whatever the package's type),
/// with what it imports; type errors are said, not fatal (as tsc emits
/// anyway). The handler, in the function.
function compileApp(workPath, entry, dir, log) {
  const tsc = path.join(workPath, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(tsc))
    throw new Error(`${entry}: a TypeScript app needs "typescript" in package.json (and a lockfile), ` +
                    'or a build script that compiles it and a start script that runs it');
  const outDir = '.ferry-ts';
  const run = spawnSync(process.execPath, [tsc, '--outDir', outDir, '--rootDir', '.', '--module', 'commonjs',
    '--moduleResolution', 'node10', '--target', 'es2022', '--esModuleInterop', '--skipLibCheck',
    '--jsx', 'react-jsx', entry], { cwd: workPath, encoding: 'utf8' });
  const built = path.join(workPath, outDir, entry.replace(/\.ts$/, '.js'));
  if (run.stdout) run.stdout.split('\n').filter(Boolean).slice(0, 20).forEach((l) => log(`tsc: ${l}`));
  if (!fs.existsSync(built)) throw new Error(`tsc made no ${outDir}/${entry.replace(/\.ts$/, '.js')} (exit ${run.status})`);
  if (run.status !== 0) log(`ferry: node: tsc found type errors in ${entry} (above); its output is used`);
  fs.writeFileSync(path.join(workPath, outDir, 'package.json'), '{"type": "commonjs"}\n');
  fs.cpSync(path.join(workPath, outDir), path.join(dir, outDir), { recursive: true });
  log(`ferry: node: compiled ${entry} with the project's TypeScript`);
  return `${outDir}/${entry.replace(/\.ts$/, '.js')}`;
}

/// A whole Node app (an Express/Koa/http server, say): one function that
/// takes every route, started from package.json's "main", its start script's
/// file, or server.js / index.js / app.js.
function wholeApp({ files, workPath, outputPath, config, log }) {
  let pkg = {};
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(workPath, 'package.json'), 'utf8'));
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  const startScript = (pkg.scripts && pkg.scripts.start) || '';
  const fromStart = startScript.match(/^node\s+([\w./-]+\.[cm]?js)\b/);
  // a start script that runs a package's command (`fastify start app.js`):
  // the app is what that command starts, not a handler its file exports
  const startBin = startScript.trim().split(/\s+/).find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  if (!config.entrypoint && startBin && !['node', 'cross-env'].includes(startBin) &&
      fs.existsSync(path.join(workPath, 'node_modules', '.bin', startBin))) {
    return start.collect({ workPath, outputPath, config, pkg, log, name: 'node',
      assets: [{ from: 'public' }] });
  }
  const candidates = [config.entrypoint, pkg.main, fromStart && fromStart[1], 'server.js', 'index.js', 'app.js',
    'server.mjs', 'index.mjs', 'app.mjs', 'src/server.js', 'src/index.js', 'src/app.js', 'src/index.mjs',
    'server.ts', 'index.ts', 'app.ts', 'src/server.ts', 'src/index.ts', 'src/app.ts']
    .filter(Boolean).map((f) => f.replace(/^\.\//, ''));
  const entry = candidates.find((f) => files.includes(f));
  if (!entry) throw new Error('no functions in api/ and no app entry (package.json "main", server.js, index.js, src/index.ts)');
  if (entry.split('/').includes('..')) throw new Error('the entrypoint may not contain ".."');
  const dir = path.join(outputPath, 'functions', 'index.func');
  const skip = Object.keys(pkg.devDependencies || {}).map((d) => `node_modules/${d}/`);
  copy(workPath, files, dir, skip);
  const handler = entry.endsWith('.ts') ? compileApp(workPath, entry, dir, log) : entry;
  start.writeServerConfig(dir, handler, config, 512);
  for (const f of files.filter((f) => f.startsWith('public/'))) {
    const dest = path.join(outputPath, 'static', f.slice('public/'.length));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(path.join(workPath, f), dest);
  }
  log(`ferry: node: a whole app started from ${entry}, on every route`);
  return { routes: [{ handle: 'filesystem' }, { src: '/(.*)', dest: '/index' }] };
}

module.exports = async function nodeBuilder({ files, workPath, outputPath, config, log, functionsOnly }) {
  const functions = files.filter((f) => FUNCTION.test(f) && !path.basename(f).startsWith('_'));
  if (functions.length === 0) return wholeApp({ files, workPath, outputPath, config, log });
  for (const f of functions) refuseEdge(workPath, f);
  const fnConfig = config.functions || {};
  const routes = [];
  const compiled = compileTypeScript(workPath, functions, log);
  // Functions ship their dependencies, not the tools that built them.
  let pkg = {};
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(workPath, 'package.json'), 'utf8'));
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  const skip = Object.keys(pkg.devDependencies || {}).map((d) => `node_modules/${d}/`);
  const seen = new Map();
  const made = [];
  for (const f of functions) {
    const [, name] = f.match(FUNCTION);
    if (seen.has(name)) throw new Error(`${f} and ${seen.get(name)} are the same function`);
    seen.set(name, f);
    const dir = path.join(outputPath, 'functions', `api/${name}.func`);
    copy(workPath, files, dir, skip);
    for (const [from, to] of compiled) {
      fs.mkdirSync(path.dirname(path.join(dir, to)), { recursive: true });
      fs.copyFileSync(path.join(workPath, from), path.join(dir, to));
    }
    const handler = f.endsWith('.ts') ? f.replace(/\.ts$/, '.js') : f;
    const own = settingsOf(fnConfig, f);
    includeExclude(workPath, dir, own, handler);
    fs.writeFileSync(path.join(dir, '.vc-config.json'), JSON.stringify({
      runtime: 'nodejs20.x',
      handler,
      launcherType: 'Nodejs',
      shouldAddHelpers: true,
      memory: own.memory || 256,
      maxDuration: own.maxDuration || 10,
    }, null, 2) + '\n');
    const r = routeOf(name);
    if (r.params.length)
      fs.writeFileSync(path.join(dir, '.ferry-route.json'),
                       JSON.stringify({ src: `^${r.src}$`, params: r.params }) + '\n');
    // (the parameters also in the query: a rewrite's function reads them there)
    const query = r.params.map((p, i) => (r.optional && i === r.params.length - 1 ? null : `${p}=$${i + 1}`))
      .filter(Boolean).join('&');
    // (a path without parameters needs no route: the router finds the
    // function at its path, api/index.js at /api too)
    if (r.params.length) made.push({ ...r, route: { src: r.src, dest: `/api/${name}${query ? `?${query}` : ''}` } });
    log(`ferry: node: function api/${name} from ${f} at ${r.src}`);
  }
  made.sort((a, b) => a.rank - b.rank || b.depth - a.depth);
  if (made.length) routes.push({ handle: 'filesystem' }, ...made.map((m) => m.route));
  if (functionsOnly) return { routes }; // (the static files are a build's output)
  // Static files: public/ if there is one, else the project's other files
  // (not the functions, their manifests, ferry's own files, or what no
  // project root serves: servable.js).
  const hasPublic = files.some((f) => f.startsWith('public/'));
  const NOT_STATIC = /^(api\/|node_modules\/)|^(package\.json|package-lock\.json|ferry\.json|\.ferryignore|tsconfig\.json)$/;
  for (const f of files) {
    if (hasPublic ? !f.startsWith('public/') : NOT_STATIC.test(f) || !servableFromRoot(f)) continue;
    const dest = path.join(outputPath, 'static', hasPublic ? f.slice('public/'.length) : f);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(path.join(workPath, f), dest);
  }
  return { routes };
};

// (for builders/middleware.js: a function is made the same way)
module.exports.copy = copy;
module.exports.compileTypeScript = compileTypeScript;
