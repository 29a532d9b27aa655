#!/usr/bin/env node
// The bridge: runs one deployed function as an instance process and serves
// it over HTTP on a unix socket (FERRY_SOCKET), a listening socket it is
// given (FERRY_LISTEN_FD: ferryd binds it where no sandbox can reach) or a
// loopback port (PORT).
//
// It adapts the request to what the function expects:
//   - a plain Node (req, res) handler, default export or module.exports;
//   - with Vercel-style helpers: req.query, req.cookies, req.body,
//     res.status(), res.json(), res.send(), res.redirect(); the body is
//     read once and the request replayed, so the handler may still read
//     the raw bytes as a stream (a webhook's signature);
//   - Web-standard handlers, as Vercel's Node runtime takes them: named
//     GET/POST/... exports (405 with Allow for another method), a default
//     object with fetch (Hono), a default function of one Request; the
//     Response is streamed back;
//   - the [params] of its route (.ferry-route.json, from the builder) in
//     the query, in place of any the client sent under those names;
//   - waitUntil (Vercel's request context, as @vercel/functions reads it):
//     work that goes on after the answer while the instance lives;
//   - an app that calls listen() itself (Express, Koa, a bare http server):
//     its listen() is pointed at the bridge's socket;
//   - an exported framework app (Express is a handler; Koa has callback()).
// An uncaught error fails that request with a 500 and a log line; the
// instance keeps serving. GET /__ferry/health answers 200 once the function
// is loaded. Every request is logged as one JSON line on stdout.
//
// usage: FERRY_HANDLER=api/hello.js [FERRY_SOCKET=/path | PORT=n] node bridge.js FUNCTION_DIR
//
// Pool mode (FERRY_POOL=1): a generic runtime started ahead of need. Node is
// up and the bridge loaded; it waits for one JSON line on stdin,
//   {"dir": "/var/task/fn", "handler": "api/hello.js", "helpers": true,
//    "env": {"NAME": "value", ...}}
// then loads that function and serves. The environment (secrets included)
// arrives only this way: never on a command line or in a file.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const { once } = require('events');
const { pathToFileURL } = require('url');

let dir = path.resolve(process.argv[2] || process.env.FERRY_FUNCTION_DIR || '.');
let handlerFile = process.env.FERRY_HANDLER || 'index.js';
const socket = process.env.FERRY_SOCKET;
const listenFd = process.env.FERRY_LISTEN_FD ? Number(process.env.FERRY_LISTEN_FD) : null;
const port = Number(process.env.PORT || 0);
let helpers = process.env.FERRY_HELPERS !== '0';
// Under ferry's router, which logs every request itself, the bridge does not.
const requestLog = process.env.FERRY_REQUEST_LOG !== '0';

function log(obj) {
  process.stdout.write(JSON.stringify({ t: Date.now(), ...obj }) + '\n');
}

function parseCookies(header) {
  const out = {};
  for (const part of (header || '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

function parseBody(raw, type) {
  if (raw.length === 0) return undefined;
  const t = (type || '').split(';')[0].trim().toLowerCase();
  if (t === 'application/json') {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      const e = new Error('Invalid JSON body');
      e.status = 400;
      throw e;
    }
  }
  if (t === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  if (t.startsWith('text/')) return raw.toString('utf8');
  return raw;
}

/// Adds the Vercel-style helpers; the body is read first.
function parseQuery(rawUrl) {
  const query = {};
  const q = rawUrl.indexOf('?');
  if (q < 0) return query;
  for (const [k, v] of new URLSearchParams(rawUrl.slice(q + 1))) query[k] = k in query ? [].concat(query[k], v) : v;
  return query;
}

/// Reads the whole body of a request that has one (null if it has none).
function readBody(req) {
  const len = req.headers['content-length'];
  if (!(len && len !== '0') && !req.headers['transfer-encoding']) return null;
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// The Vercel-style helpers live on the prototypes of this process's requests
// and responses (it serves one function): nothing is allocated per request,
// and query, cookies and body are parsed only when first used.
const RAW = Symbol('ferry.rawBody');
const CACHE = Symbol('ferry.parsed');
function cached(self, key, compute) {
  const c = self[CACHE] || (self[CACHE] = {});
  if (!(key in c)) c[key] = compute();
  return c[key];
}
function helperProperty(name, compute) {
  Object.defineProperty(http.IncomingMessage.prototype, name, {
    configurable: true,
    get() {
      return cached(this, name, () => compute(this));
    },
    set(v) {
      (this[CACHE] || (this[CACHE] = {}))[name] = v;
    },
  });
}

function installHelpers() {
  helperProperty('query', (req) => parseQuery(req.url));
  helperProperty('cookies', (req) => parseCookies(req.headers.cookie));
  helperProperty('body', (req) => parseBody(req[RAW] || Buffer.alloc(0), req.headers['content-type']));
  const R = http.ServerResponse.prototype;
  R.status = function (code) {
    this.statusCode = code;
    return this;
  };
  R.json = function (obj) {
    if (!this.getHeader('content-type')) this.setHeader('content-type', 'application/json; charset=utf-8');
    this.end(JSON.stringify(obj));
    return this;
  };
  R.send = function (body) {
    if (body === undefined || body === null) return this.end(), this;
    if (Buffer.isBuffer(body)) {
      if (!this.getHeader('content-type')) this.setHeader('content-type', 'application/octet-stream');
      return this.end(body), this;
    }
    if (typeof body === 'object') return this.json(body);
    if (!this.getHeader('content-type')) this.setHeader('content-type', 'text/html; charset=utf-8');
    this.end(String(body));
    return this;
  };
  R.redirect = function (a, b) {
    const [code, location] = typeof a === 'number' ? [a, b] : [307, a];
    this.statusCode = code;
    this.setHeader('location', location);
    this.end();
    return this;
  };
}

function fail(res, err, req) {
  log({ level: 'error', path: req && req.url, error: String((err && err.stack) || err) });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = (err && err.status) || 500;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(res.statusCode === 500 ? 'Internal Server Error\n' : `${err.message}\n`);
}

/// The route the builder gave this function (.ferry-route.json: its
/// pattern and the names of its [params]): what the path's segments are is
/// added to the query, as Vercel does (req.query.id, url.searchParams).
let route = null;
function loadRoute() {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(dir, '.ferry-route.json'), 'utf8'));
    if (r && typeof r.src === 'string' && Array.isArray(r.params)) route = { re: new RegExp(r.src), params: r.params };
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
}
function decodeSegment(v) {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
function addRouteParams(req) {
  if (!route) return;
  const q = req.url.indexOf('?');
  const p = q < 0 ? req.url : req.url.slice(0, q);
  // the path as the router matched it (decoded), the query as the client
  // wrote it but for the parameters' names: those are the path's only
  const m = route.re.exec(decodeSegment(p));
  if (!m) return; // (rewritten to it: the router put the parameters in the query)
  const names = new Set(route.params);
  const kept = (q < 0 ? '' : req.url.slice(q + 1)).split('&').filter((pair) => {
    if (!pair) return false;
    const eq = pair.indexOf('=');
    return !names.has(decodeSegment((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ')));
  });
  route.params.forEach((name, i) => {
    if (m[i + 1] !== undefined) kept.push(`${encodeURIComponent(name)}=${encodeURIComponent(m[i + 1])}`);
  });
  req.url = kept.length ? `${p}?${kept.join('&')}` : p;
}

/// The request again, readable from its first byte: the bridge has read
/// the body (for req.body), and the handler may still read it as a stream
/// (a webhook's signature is over the raw bytes).
function replay(req, raw) {
  const r = new http.IncomingMessage(req.socket);
  // It closes when the client's request does, not when its copy is read;
  // and closing it never takes the connection along (IncomingMessage's own
  // _destroy would, for a copy nobody read: the router's kept-open
  // connection would go with every answer).
  r._readableState.autoDestroy = false;
  r._destroy = (err, cb) => cb(err);
  req.once('close', () => r.destroy());
  for (const k of ['method', 'url', 'headers', 'rawHeaders', 'httpVersion', 'httpVersionMajor',
    'httpVersionMinor', 'trailers', 'rawTrailers'])
    r[k] = req[k];
  if (raw && raw.length) r.push(raw);
  r.push(null);
  r.complete = true;
  r[RAW] = raw || Buffer.alloc(0);
  return r;
}

/// waitUntil: work that goes on after the answer (Vercel's request
/// context, which @vercel/functions reads); its failures are logged.
const pending = new Set();
const requestContext = {
  waitUntil(p) {
    const work = Promise.resolve(p)
      .catch((err) => log({ level: 'error', waitUntil: String((err && err.stack) || err) }))
      .finally(() => pending.delete(work));
    pending.add(work);
  },
};
globalThis[Symbol.for('@vercel/request-context')] = { get: () => requestContext };

/// A Web-standard handler (named GET/POST/... exports, a default object
/// with fetch, a default function of one Request): the request as a Request,
/// the Response it returns streamed back.
const METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'];
let web = null;

async function callWeb(req, res, raw) {
  let handler = web.fetch;
  if (web.methods) {
    handler = web.methods[req.method] || (req.method === 'HEAD' ? web.methods.GET : null);
    if (!handler) {
      res.statusCode = 405;
      res.setHeader('allow', Object.keys(web.methods).join(', '));
      res.end();
      return;
    }
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const init = { method: req.method, headers };
  if (raw && raw.length && req.method !== 'GET' && req.method !== 'HEAD') init.body = raw;
  // the client going away aborts the request (request.signal)
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  init.signal = gone.signal;
  const request = new Request(`http://${req.headers.host || 'localhost'}${req.url}`, init);
  const response = await handler(request, { waitUntil: requestContext.waitUntil });
  if (!(response instanceof Response)) throw new Error(`${handlerFile} answered without a Response`);
  res.statusCode = response.status;
  // framing is the bridge's; a fetched answer's body is decoded already
  const skip = new Set(['set-cookie', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
  if (response.url) skip.add('content-encoding');
  const cookies = response.headers.getSetCookie();
  for (const [k, v] of response.headers) if (!skip.has(k)) res.setHeader(k, v);
  if (cookies.length) res.setHeader('set-cookie', cookies);
  if (!response.body || req.method === 'HEAD') { // (HEAD: the head only; the stream is let go)
    if (response.body) await response.body.cancel().catch(() => {});
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) break;
      if (!res.write(value)) {
        await Promise.race([once(res, 'drain'), once(res, 'close')]);
        if (res.destroyed) break;
      }
    }
  } finally {
    if (res.destroyed) await reader.cancel().catch(() => {}); // (the client went: the stream stops)
  }
  res.end();
}

let app = null; // the function's request listener, once known
let appServer = null; // a server the function created and listened on itself
let listened = null; // resolves when it does (some listen after an await: Fastify)
const listenedOnce = new Promise((resolve) => { listened = resolve; });

// Point an app's own listen() at the bridge: the app's server is captured
// and its request listeners serve our socket.
const realListen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  if (this === bridgeServer) return realListen.apply(this, args);
  appServer = this;
  listened();
  // as a real listen: the callback and 'listening' (Next.js sets its
  // handlers up there), and an address to ask
  const cb = args.find((a) => typeof a === 'function');
  if (cb) this.once('listening', cb);
  const port = args.find((a) => typeof a === 'number') || 3000;
  this.address = () => ({ address: '127.0.0.1', family: 'IPv4', port });
  process.nextTick(() => this.emit('listening'));
  return this;
};

async function serve(req, res) {
  const started = Date.now();
  if (requestLog)
    res.on('finish', () =>
      log({ method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - started }));
  if (req.url === '/__ferry/health') {
    const up = app || appServer || web;
    res.statusCode = up ? 200 : 503;
    res.end(up ? 'ok\n' : 'loading\n');
    return;
  }
  try {
    if (appServer) {
      appServer.emit('request', req, res);
      return;
    }
    addRouteParams(req);
    if (web) {
      const body = readBody(req);
      await callWeb(req, res, body ? await body : null);
      return;
    }
    if (helpers) {
      const body = readBody(req);
      req = replay(req, body ? await body : null);
    }
    await app(req, res);
  } catch (err) {
    fail(res, err, req);
  }
}

const bridgeServer = http.createServer((req, res) => {
  serve(req, res).catch((err) => fail(res, err, req));
});
// The router keeps connections open and reuses them; it closes them itself.
bridgeServer.keepAliveTimeout = 0;
bridgeServer.headersTimeout = 0;
bridgeServer.requestTimeout = 0;

process.on('uncaughtException', (err) => log({ level: 'error', uncaught: String(err && err.stack) }));
process.on('unhandledRejection', (err) => log({ level: 'error', unhandled: String(err && err.stack) }));

async function load() {
  const file = path.join(dir, handlerFile);
  let mod;
  try {
    if (file.endsWith('.mjs')) throw Object.assign(new Error('an ES module'), { code: 'ERR_REQUIRE_ESM' });
    mod = require(file);
  } catch (e) {
    // (an ES module; one that awaits at its top level cannot be required at all)
    if (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE' &&
        !(e instanceof SyntaxError && /import|export/.test(e.message))) throw e;
    mod = await import(pathToFileURL(file).href);
  }
  const candidate = mod && mod.__esModule !== undefined && mod.default ? mod.default : mod;
  const named = METHODS.filter((m) => mod && typeof mod[m] === 'function');
  const def = mod && mod.default !== undefined ? mod.default : candidate;
  if (named.length) {
    web = { methods: Object.fromEntries(named.map((m) => [m, mod[m]])) };
    return;
  }
  if (def && typeof def === 'object' && typeof def.fetch === 'function') {
    web = { fetch: (request, ctx) => def.fetch(request, {}, ctx) };
    return;
  }
  // (an Edge function runs here on Node.js: its default export takes a Request)
  const edge = mod && mod.config && /^(experimental-)?edge$/.test(String(mod.config.runtime));
  if (typeof def === 'function' && (edge || (def.length === 1 && helpers))) {
    web = { fetch: def }; // (request) => Response; (req, res) takes two
    return;
  }
  const fn = typeof candidate === 'function' ? candidate
    : candidate && typeof candidate.default === 'function' ? candidate.default
    : candidate && typeof candidate.callback === 'function' ? candidate.callback()
    : candidate && candidate.default && typeof candidate.default.callback === 'function' ? candidate.default.callback()
    : null;
  if (fn) {
    app = fn;
  } else if (!appServer) {
    let timer;
    await Promise.race([listenedOnce, new Promise((resolve) => { timer = setTimeout(resolve, 10000); })]);
    clearTimeout(timer);
    if (!appServer) throw new Error(`${handlerFile} exports no handler and starts no server (within 10 s)`);
  }
}

/// In pool mode: the function to load, from the first line on stdin.
function assignment() {
  if (process.env.FERRY_POOL !== '1') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      process.stdin.off('data', onData);
      process.stdin.pause();
      try {
        const job = JSON.parse(buf.slice(0, nl));
        dir = path.resolve(job.dir);
        handlerFile = job.handler || 'index.js';
        helpers = job.helpers !== false;
        for (const [k, v] of Object.entries(job.env || {})) process.env[k] = String(v);
        process.chdir(dir);
        resolve();
      } catch (e) {
        reject(e);
      }
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', onData);
    process.stdin.on('end', () => reject(new Error('stdin closed before a function was assigned')));
  });
}

assignment()
  .then(() => helpers && installHelpers())
  .then(loadRoute)
  .then(load)
  .then(() => {
    const onListen = () => {
      const addr = bridgeServer.address();
      log({ level: 'info', ready: listenFd !== null ? `fd ${listenFd}` : socket || `127.0.0.1:${addr.port}` });
    };
    if (listenFd !== null) realListen.call(bridgeServer, { fd: listenFd }, onListen);
    else if (socket) realListen.call(bridgeServer, socket, onListen);
    else realListen.call(bridgeServer, port, '127.0.0.1', onListen);
  })
  .catch((err) => {
    log({ level: 'error', load: String(err && err.stack) });
    process.exit(1);
  });
