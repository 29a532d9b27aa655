#!/usr/bin/env node
// The bridge: runs one deployed function as an instance process and serves
// it over HTTP on a unix socket (FERRY_SOCKET) or a loopback port (PORT).
//
// It adapts the request to what the function expects:
//   - a plain Node (req, res) handler, default export or module.exports;
//   - with Vercel-style helpers: req.query, req.cookies, req.body,
//     res.status(), res.json(), res.send(), res.redirect();
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
const path = require('path');
const { pathToFileURL } = require('url');

let dir = path.resolve(process.argv[2] || process.env.FERRY_FUNCTION_DIR || '.');
let handlerFile = process.env.FERRY_HANDLER || 'index.js';
const socket = process.env.FERRY_SOCKET;
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
async function addHelpers(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? [].concat(query[k], v) : v;
  req.query = query;
  req.cookies = parseCookies(req.headers.cookie);
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks);
  let parsed;
  Object.defineProperty(req, 'body', {
    configurable: true,
    get() {
      if (parsed === undefined) parsed = { value: parseBody(raw, req.headers['content-type']) };
      return parsed.value;
    },
  });
  res.status = (code) => {
    res.statusCode = code;
    return res;
  };
  res.json = (obj) => {
    if (!res.getHeader('content-type')) res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(obj));
    return res;
  };
  res.send = (body) => {
    if (body === undefined || body === null) return res.end(), res;
    if (Buffer.isBuffer(body)) {
      if (!res.getHeader('content-type')) res.setHeader('content-type', 'application/octet-stream');
      return res.end(body), res;
    }
    if (typeof body === 'object') return res.json(body);
    if (!res.getHeader('content-type')) res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(String(body));
    return res;
  };
  res.redirect = (a, b) => {
    const [code, location] = typeof a === 'number' ? [a, b] : [307, a];
    res.statusCode = code;
    res.setHeader('location', location);
    res.end();
    return res;
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

let app = null; // the function's request listener, once known
let appServer = null; // a server the function created and listened on itself

// Point an app's own listen() at the bridge: the app's server is captured
// and its request listeners serve our socket.
const realListen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  if (this === bridgeServer) return realListen.apply(this, args);
  appServer = this;
  const cb = args.find((a) => typeof a === 'function');
  if (cb) process.nextTick(cb);
  return this;
};

async function serve(req, res) {
  const started = Date.now();
  if (requestLog)
    res.on('finish', () =>
      log({ method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - started }));
  if (req.url === '/__ferry/health') {
    res.statusCode = app || appServer ? 200 : 503;
    res.end(app || appServer ? 'ok\n' : 'loading\n');
    return;
  }
  try {
    if (appServer) {
      appServer.emit('request', req, res);
      return;
    }
    if (helpers) await addHelpers(req, res);
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
    mod = require(file);
  } catch (e) {
    if (e.code !== 'ERR_REQUIRE_ESM' && !(e instanceof SyntaxError && /import|export/.test(e.message))) throw e;
    mod = await import(pathToFileURL(file).href);
  }
  const candidate = mod && mod.__esModule !== undefined && mod.default ? mod.default : mod;
  const fn = typeof candidate === 'function' ? candidate
    : candidate && typeof candidate.default === 'function' ? candidate.default
    : candidate && typeof candidate.callback === 'function' ? candidate.callback()
    : candidate && candidate.default && typeof candidate.default.callback === 'function' ? candidate.default.callback()
    : null;
  if (fn) app = fn;
  else if (!appServer) throw new Error(`${handlerFile} exports no handler and starts no server`);
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
  .then(load)
  .then(() => {
    const onListen = () => {
      const addr = bridgeServer.address();
      log({ level: 'info', ready: socket || `127.0.0.1:${addr.port}` });
    };
    if (socket) realListen.call(bridgeServer, socket, onListen);
    else realListen.call(bridgeServer, port, '127.0.0.1', onListen);
  })
  .catch((err) => {
    log({ level: 'error', load: String(err && err.stack) });
    process.exit(1);
  });
