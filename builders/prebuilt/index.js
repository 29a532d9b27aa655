'use strict';
// The prebuilt builder: a project that has a .vercel/output (the Build
// Output API v3, what `vercel build` and framework adapters write) deploys
// it as it is, without a build. Its static files are served, and each
// Node.js function at its path, config.json's routes and overrides as
// they are. What the router cannot do fails the build and says what
// (docs/compatibility.md): other runtimes, Routing Middleware, patterns
// RE2 does not run (look-around).
const fs = require('fs');
const path = require('path');

const { checkRoute } = require('../vercel-routes.js');

/// The .func directories under dir (a .func that is a link to another
/// .func is that one's copy, as the Build Output API allows).
function functionsIn(root, rel = '', out = []) {
  for (const ent of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const sub = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.name.endsWith('.func')) out.push(sub);
    else if (ent.isDirectory()) functionsIn(root, sub, out);
  }
  return out;
}

/// Copies a .func (following a link to another .func inside the output).
function copyFunc(outputRoot, rel, dest) {
  let from = path.join(outputRoot, 'functions', rel);
  const st = fs.lstatSync(from);
  if (st.isSymbolicLink()) {
    const target = path.resolve(path.dirname(from), fs.readlinkSync(from));
    const inside = path.relative(path.join(outputRoot, 'functions'), target);
    if (inside.startsWith('..') || path.isAbsolute(inside) || !target.endsWith('.func'))
      throw new Error(`functions/${rel} links outside .vercel/output/functions`);
    from = target;
  }
  fs.cpSync(from, dest, { recursive: true, verbatimSymlinks: true });
}

/// A prerender function's NAME.prerender-config.json and its fallback page,
/// checked and copied next to its .func (the router keeps its answers).
function copyPrerender(root, name, outputPath, log) {
  const rel = `functions/${name}.prerender-config.json`;
  let pr;
  try {
    pr = JSON.parse(fs.readFileSync(path.join(root, rel), 'utf8'));
  } catch (e) {
    throw new Error(`${rel}: ${e.message}`);
  }
  const bad = (what) => new Error(`${rel}: ${what}`);
  if (!pr || typeof pr !== 'object') throw bad('not a JSON object');
  if (!(pr.expiration === false || (typeof pr.expiration === 'number' && pr.expiration > 0)))
    throw bad('"expiration" is a number of seconds, or false (never)');
  if (pr.bypassToken !== undefined && (typeof pr.bypassToken !== 'string' || pr.bypassToken.length < 32))
    throw bad('"bypassToken" is a string of at least 32 characters');
  if (pr.allowQuery !== undefined && (!Array.isArray(pr.allowQuery) || pr.allowQuery.some((q) => typeof q !== 'string')))
    throw bad('"allowQuery" is an array of parameter names');
  if (pr.passQuery !== undefined && typeof pr.passQuery !== 'boolean') throw bad('"passQuery" is true or false');
  if (pr.initialStatus !== undefined && !(Number.isInteger(pr.initialStatus) && pr.initialStatus >= 200 &&
      pr.initialStatus < 600 && ![204, 205, 304].includes(pr.initialStatus)))
    throw bad('"initialStatus" is an HTTP status of a page with a body (not 204, 205 or 304)');
  if (pr.initialHeaders !== undefined && (typeof pr.initialHeaders !== 'object' ||
      Object.values(pr.initialHeaders).some((v) => typeof v !== 'string' || /[\u0000-\u0008\u000a-\u001f\u007f]/.test(v))))
    throw bad('"initialHeaders" is an object of header values');
  const fallback = typeof pr.fallback === 'string' ? pr.fallback : pr.fallback && pr.fallback.fsPath;
  if (pr.fallback !== undefined && pr.fallback !== null && typeof fallback !== 'string')
    throw bad('"fallback" is a file name next to it');
  const dir = path.dirname(name);
  const ignored = Object.keys(pr).filter((k) => !['expiration', 'group', 'bypassToken', 'allowQuery',
    'passQuery', 'fallback', 'initialHeaders', 'initialStatus'].includes(k));
  if (fallback) {
    const from = path.join(root, 'functions', dir, fallback);
    if (fallback.split(/[\\/]/).includes('..') || path.isAbsolute(fallback))
      throw bad(`its fallback "${fallback}" is outside functions/${dir === '.' ? '' : dir}`);
    let st;
    try {
      st = fs.lstatSync(from);
    } catch (e) {
      throw bad(`its fallback "${fallback}" is not there`);
    }
    if (!st.isFile()) throw bad(`its fallback "${fallback}" is not a file`);
    if (st.size > 8 << 20) throw bad(`its fallback "${fallback}" is over 8 MiB`);
    const to = path.join(outputPath, 'functions', dir, fallback);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
  }
  fs.mkdirSync(path.join(outputPath, 'functions', dir), { recursive: true });
  fs.copyFileSync(path.join(root, rel), path.join(outputPath, rel));
  log(`ferry: prebuilt: ${name} is a prerender function: its answers kept ` +
      `${pr.expiration === false ? 'until revalidated' : `${pr.expiration} s`}` +
      `${fallback ? `, ${fallback} served first` : ''}` +
      `${pr.group !== undefined ? ' (each answer is revalidated on its own: "group" is not used)' : ''}` +
      `${ignored.length ? `; ignored: ${ignored.join(', ')}` : ''}`);
}

module.exports = async function prebuilt({ workPath, outputPath, log }) {
  const root = path.join(workPath, '.vercel', 'output');
  const config = JSON.parse(fs.readFileSync(path.join(root, 'config.json'), 'utf8'));
  if (!config || config.version !== 3) throw new Error('.vercel/output/config.json: only version 3 is supported');
  const routes = config.routes === undefined ? [] : config.routes;
  if (!Array.isArray(routes)) throw new Error('.vercel/output/config.json: routes is an array');
  routes.forEach((r, i) => checkRoute(r, `.vercel/output/config.json routes[${i}]`));
  for (const k of ['images', 'wildcard', 'crons'])
    if (config[k] && Object.keys(config[k]).length)
      throw new Error(`.vercel/output/config.json: "${k}" is not supported by ferry yet`);
  const overrides = config.overrides === undefined ? {} : config.overrides;
  if (typeof overrides !== 'object' || Array.isArray(overrides))
    throw new Error('.vercel/output/config.json: overrides is an object');
  for (const [file, o] of Object.entries(overrides)) {
    if (!o || typeof o !== 'object' || (o.path !== undefined && typeof o.path !== 'string') ||
        (o.contentType !== undefined && (typeof o.contentType !== 'string' || /[\u0000-\u001f\u007f]/.test(o.contentType))))
      throw new Error(`.vercel/output/config.json: overrides["${file}"] is {"path": ..., "contentType": ...}`);
  }
  if (fs.existsSync(path.join(root, 'static')))
    fs.cpSync(path.join(root, 'static'), path.join(outputPath, 'static'), { recursive: true, verbatimSymlinks: true });
  const made = [];
  if (fs.existsSync(path.join(root, 'functions'))) {
    for (const rel of functionsIn(path.join(root, 'functions'))) {
      const name = rel.slice(0, -'.func'.length);
      const dest = path.join(outputPath, 'functions', rel);
      copyFunc(root, rel, dest);
      const prerender = path.join(root, 'functions', `${name}.prerender-config.json`);
      if (fs.existsSync(prerender)) copyPrerender(root, name, outputPath, log);
      let vc;
      try {
        vc = JSON.parse(fs.readFileSync(path.join(dest, '.vc-config.json'), 'utf8'));
      } catch (e) {
        throw new Error(`functions/${rel}/.vc-config.json: ${e.message}`);
      }
      if (typeof vc.runtime !== 'string' || !/^nodejs\d+\.x$/.test(vc.runtime))
        throw new Error(`functions/${rel}: runtime "${vc.runtime}" is not supported by ferry (Node.js only)`);
      if (typeof vc.handler !== 'string' || !fs.existsSync(path.join(dest, vc.handler)))
        throw new Error(`functions/${rel}: its handler "${vc.handler}" is not there`);
      made.push(name);
      log(`ferry: prebuilt: function ${name} (${vc.runtime}) at /${name.replace(/(^|\/)index$/, '')}`);
    }
  }
  log(`ferry: prebuilt: .vercel/output deployed as it is, ${made.length} function(s), ${routes.length} route(s)`);
  return { routes, overrides };
};
