'use strict';
// vercel.json's routing keys (rewrites, redirects, headers, cleanUrls,
// trailingSlash, or the older routes) compiled into Build Output API
// routes, in the order Vercel compiles them: cleanUrls, trailingSlash,
// redirects, headers (they go on), then the filesystem, then rewrites (they
// check that their destination exists). The router runs one model
// (deployers/local/routing.hpp); docs/compatibility.md says what is
// supported.

const ROUTING_KEYS = ['rewrites', 'redirects', 'headers', 'cleanUrls', 'trailingSlash'];
const PHASES = [null, 'filesystem', 'resource', 'miss', 'rewrite', 'hit', 'error'];
const MAX_RULES = 2048;

/// A path-to-regexp source ("/blog/:slug", "/docs/:path*", "/(.*)") as a
/// regular expression, with the names of its groups in order (numbers for
/// unnamed ones), as path-to-regexp 6 with strict and end makes it.
function sourceToRegex(source, what) {
  if (typeof source !== 'string' || !source.startsWith('/'))
    throw new Error(`${what}: source ${JSON.stringify(source)} does not begin with /`);
  const segments = [];
  let re = '';
  let i = 0;
  let unnamed = 0;
  const DEFAULT = '[^\\/#\\?]+?';
  const group = () => { // "(...)" at i: its pattern, balanced
    let depth = 1;
    let j = i + 1;
    let pattern = '';
    if (source[j] === '?') throw new Error(`${what}: a pattern cannot start with "?" at ${j}`);
    while (j < source.length && depth > 0) {
      if (source[j] === '\\') {
        pattern += source[j] + source[j + 1];
        j += 2;
        continue;
      }
      if (source[j] === ')') depth--;
      else if (source[j] === '(') {
        depth++;
        if (source[j + 1] !== '?') throw new Error(`${what}: capturing groups are not allowed in a pattern at ${j}`);
      }
      if (depth > 0) pattern += source[j];
      j++;
    }
    if (depth > 0) throw new Error(`${what}: unbalanced pattern at ${i}`);
    i = j;
    return pattern;
  };
  const escape = (s) => s.replace(/[.+*?=^!:${}()[\]|/\\]/g, '\\$&');
  let literal = '';
  const flush = () => { re += escape(literal); literal = ''; };
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      literal += source[i + 1] || '';
      i += 2;
      continue;
    }
    if (c === '{' || c === '}')
      throw new Error(`${what}: {} groups in a source are not supported by ferry`);
    let name = null;
    let pattern = null;
    if (c === ':') {
      const m = /^[A-Za-z0-9_]+/.exec(source.slice(i + 1));
      if (!m) throw new Error(`${what}: a parameter without a name at ${i}`);
      name = m[0];
      i += 1 + name.length;
      if (source[i] === '(') pattern = group();
    } else if (c === '(') {
      name = unnamed++;
      pattern = group();
    } else {
      literal += c;
      i++;
      continue;
    }
    const modifier = '?*+'.includes(source[i] || 'x') ? source[i++] : '';
    // a parameter after "/" takes it along: "/:a?" is "" or "/x"
    let prefix = '';
    if (literal.endsWith('/')) {
      prefix = '/';
      literal = literal.slice(0, -1);
    }
    flush();
    const p = pattern === null ? DEFAULT : pattern;
    const pre = escape(prefix);
    if (modifier === '+' || modifier === '*') {
      re += `(?:${pre}((?:${p})(?:${pre}(?:${p}))*))${modifier === '*' ? '?' : ''}`;
    } else {
      re += `(?:${pre}(${p}))${modifier}`;
    }
    segments.push(name);
  }
  flush();
  return { src: `^${re}$`, segments };
}

/// Names bound by has/missing conditions: a key without a value, and the
/// named groups of a value.
function hasSegments(has, what) {
  const names = new Set();
  for (const h of has || []) {
    if (!h || typeof h !== 'object' || !['header', 'cookie', 'query', 'host'].includes(h.type))
      throw new Error(`${what}: has/missing needs a type of header, cookie, query or host`);
    if (h.value !== undefined && typeof h.value !== 'string')
      throw new Error(`${what}: only a string value (a pattern) is supported in has/missing`);
    if (h.type !== 'host' && typeof h.key !== 'string') throw new Error(`${what}: a ${h.type} condition needs a key`);
    if (h.type === 'host' && typeof h.value !== 'string') throw new Error(`${what}: a host condition needs a value`);
    if (h.value === undefined && h.key) names.add(h.key);
    for (const m of (h.value || '').matchAll(/\(\?<([a-zA-Z][a-zA-Z0-9]*)>/g)) names.add(m[1]);
    if (h.type === 'host' && h.value) names.add('host');
  }
  return [...names];
}

function conditions(list) {
  return list && list.map((h) => (h.type === 'header' ? { ...h, key: h.key.toLowerCase() } : h));
}

/// ":name" (with a modifier) in text replaced by what binds it.
function replaceNames(text, names) {
  return text.replace(/:([A-Za-z0-9_]+)[*+?]?/g, (all, name) => (name in names ? names[name] : all));
}

function bindings(segments, has) {
  const names = {};
  segments.forEach((name, index) => { if (typeof name === 'string') names[name] = `$${index + 1}`; });
  for (const name of has) names[name] = `$${name}`;
  return names;
}

function destinationOf(rule, segments, has, isRedirect, what) {
  if (typeof rule.destination !== 'string' || rule.destination === '')
    throw new Error(`${what}: destination is a non-empty string`);
  const names = bindings(segments, has);
  let dest = replaceNames(rule.destination, names);
  if (!isRedirect && /^https?:\/\//.test(dest))
    throw new Error(`${what}: a rewrite to another host (${rule.destination}) is not supported by ferry: ` +
                    'the router does not fetch from outside the cluster');
  if (!isRedirect && !dest.startsWith('/')) throw new Error(`${what}: destination begins with /`);
  // a rewrite whose destination uses none of the source's parameters gets
  // them all in its query (Vercel's rule)
  const pathPart = rule.destination.split('?')[0];
  const used = Object.keys(names).some((n) => new RegExp(`:${n}(?![A-Za-z0-9_])`).test(pathPart));
  if (!isRedirect && !used) {
    const q = dest.includes('?') ? dest.slice(dest.indexOf('?') + 1).split('&').map((p) => p.split('=')[0]) : [];
    const add = Object.entries(names).filter(([n]) => !q.includes(n)).map(([n, v]) => `${n}=${v}`);
    if (add.length) dest += (dest.includes('?') ? '&' : '?') + add.join('&');
  }
  return dest;
}

function listOf(value, key) {
  if (!Array.isArray(value)) throw new Error(`vercel.json: ${key} is an array`);
  if (value.length > MAX_RULES) throw new Error(`vercel.json: ${key} has over ${MAX_RULES} entries`);
  return value;
}

function withConditions(route, r) {
  if (r.has) route.has = conditions(r.has);
  if (r.missing) route.missing = conditions(r.missing);
  return route;
}

/// The routes vercel.json's keys make (none if it has none).
function compileVercelRouting(config) {
  const present = ROUTING_KEYS.filter((k) => config[k] !== undefined);
  if (config.routes !== undefined) {
    if (present.length)
      throw new Error(`vercel.json: routes cannot be used with ${present.join(', ')} (as on Vercel)`);
    const routes = listOf(config.routes, 'routes');
    routes.forEach((r, i) => checkRoute(r, `vercel.json routes[${i}]`));
    return routes;
  }
  const routes = [];
  const { cleanUrls, trailingSlash } = config;
  for (const [k, v] of [['cleanUrls', cleanUrls], ['trailingSlash', trailingSlash]])
    if (v !== undefined && typeof v !== 'boolean') throw new Error(`vercel.json: ${k} is true or false`);
  if (cleanUrls) {
    const loc = trailingSlash ? '/$1/' : '/$1';
    routes.push({ src: '^/(?:(.+)/)?index(?:\\.html)?/?$', headers: { Location: loc }, status: 308 });
    routes.push({ src: '^/(.*)\\.html/?$', headers: { Location: loc }, status: 308 });
  }
  if (trailingSlash === true) {
    routes.push({ src: '^/\\.well-known(?:/.*)?$' });
    routes.push({ src: '^/((?:[^/]+/)*[^/\\.]+)$', headers: { Location: '/$1/' }, status: 308 });
    routes.push({ src: '^/((?:[^/]+/)*[^/]+\\.\\w+)/$', headers: { Location: '/$1' }, status: 308 });
  } else if (trailingSlash === false) {
    routes.push({ src: '^/(.*)\\/$', headers: { Location: '/$1' }, status: 308 });
  }
  if (config.redirects !== undefined) {
    listOf(config.redirects, 'redirects').forEach((r, i) => {
      const what = `vercel.json redirects[${i}]`;
      if (r.permanent !== undefined && r.statusCode !== undefined)
        throw new Error(`${what}: permanent and statusCode cannot both be set`);
      if (r.statusCode !== undefined && ![301, 302, 303, 307, 308].includes(r.statusCode))
        throw new Error(`${what}: statusCode is one of 301, 302, 303, 307, 308`);
      const { src, segments } = sourceToRegex(r.source, what);
      const has = hasSegments([...(r.has || []), ...(r.missing || [])], what);
      const status = typeof r.permanent === 'boolean' ? (r.permanent ? 308 : 307) : r.statusCode || 308;
      routes.push(withConditions({ src, headers: { Location: destinationOf(r, segments, has, true, what) }, status }, r));
    });
  }
  if (config.headers !== undefined) {
    listOf(config.headers, 'headers').forEach((h, i) => {
      const what = `vercel.json headers[${i}]`;
      const { src, segments } = sourceToRegex(h.source, what);
      const names = bindings(segments, hasSegments([...(h.has || []), ...(h.missing || [])], what));
      if (!Array.isArray(h.headers)) throw new Error(`${what}: headers is an array of {key, value}`);
      const out = {};
      for (const { key, value } of h.headers) {
        if (typeof key !== 'string' || typeof value !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key))
          throw new Error(`${what}: a header is {"key": NAME, "value": TEXT}`);
        out[replaceNames(key, names)] = replaceNames(value, names);
      }
      routes.push(withConditions({ src, headers: out, continue: true }, h));
    });
  }
  if (config.rewrites !== undefined) {
    routes.push({ handle: 'filesystem' });
    listOf(config.rewrites, 'rewrites').forEach((r, i) => {
      const what = `vercel.json rewrites[${i}]`;
      const { src, segments } = sourceToRegex(r.source, what);
      const has = hasSegments([...(r.has || []), ...(r.missing || [])], what);
      const route = withConditions({ src, dest: destinationOf(r, segments, has, false, what), check: true }, r);
      if (r.statusCode !== undefined) route.status = r.statusCode;
      routes.push(route);
    });
  }
  routes.forEach((r, i) => checkRoute(r, `vercel.json (route ${i} made of it)`));
  if (routes.length > MAX_RULES) throw new Error(`vercel.json makes ${routes.length} routes, over ${MAX_RULES}`);
  return routes;
}

/// What the router cannot run fails the build here, with the reason.
function checkRoute(r, what) {
  if (!r || typeof r !== 'object') throw new Error(`${what} is not an object`);
  if (r.handle !== undefined) {
    if (!PHASES.includes(r.handle) || r.handle === null) throw new Error(`${what}: unknown handle ${JSON.stringify(r.handle)}`);
    return;
  }
  if (typeof r.src !== 'string') throw new Error(`${what} has neither src nor handle`);
  for (const k of ['middlewarePath', 'middlewareRawSrc', 'locale'])
    if (r[k] !== undefined) throw new Error(`${what}: "${k}" is not supported by ferry`);
  const patterns = [r.src, ...[...(r.has || []), ...(r.missing || [])].map((h) => h && h.value).filter((v) => typeof v === 'string')];
  for (const p of patterns) {
    if (/\(\?<?[=!]|\\[1-9]/.test(p))
      throw new Error(`${what}: ${p} uses look-around or a back-reference, which ferry's router (RE2, linear time) does not run`);
    try {
      new RegExp(p);
    } catch (e) {
      throw new Error(`${what}: ${p} is not a regular expression: ${e.message}`);
    }
  }
  if (typeof r.dest === 'string' && /^https?:\/\//.test(r.dest) && !(r.headers && Object.keys(r.headers).some((h) => h.toLowerCase() === 'location')))
    throw new Error(`${what}: a rewrite to another host (${r.dest}) is not supported by ferry`);
}

/// User routes and a builder's, phase by phase: the user's first in each
/// (as Vercel merges them).
function mergeRoutes(user, builder) {
  const byPhase = (routes) => {
    const m = new Map(PHASES.map((p) => [p, []]));
    let phase = null;
    for (const r of routes) {
      if (r.handle !== undefined) phase = r.handle;
      else m.get(phase).push(r);
    }
    return m;
  };
  const u = byPhase(user);
  const b = byPhase(builder);
  const out = [];
  for (const p of PHASES) {
    const rs = [...u.get(p), ...b.get(p)];
    if (p !== null && (rs.length || (p === 'filesystem' && out.length))) out.push({ handle: p });
    out.push(...rs);
  }
  return out;
}

module.exports = { compileVercelRouting, mergeRoutes, checkRoute, sourceToRegex, ROUTING_KEYS };
