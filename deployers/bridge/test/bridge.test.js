// node --test: the bridge serves every kind of function it promises to.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');

const BRIDGE = path.join(__dirname, '..', 'bridge.js');
const FIXTURES = path.join(__dirname, 'fixtures');

function start(handler, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridge-'));
  const sock = path.join(dir, 's.sock');
  const child = spawn(process.execPath, [BRIDGE, FIXTURES], {
    env: { PATH: process.env.PATH, FERRY_HANDLER: handler, FERRY_SOCKET: sock, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // (the directory goes with the bridge: a test run leaves nothing in /tmp)
  child.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bridge did not start: ' + out)), 15000); // (a module that starts nothing is given 10 s to listen)
    child.stdout.on('data', () => {
      if (out.includes('"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge exited ${code}: ${out}`));
    });
  });
  return { child, sock, ready, logs: () => out };
}

function request(sock, method, p, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function withBridge(handler, fn) {
  const b = start(handler);
  try {
    await b.ready;
    await fn(b);
  } finally {
    b.child.kill('SIGKILL');
  }
}

test('a plain (req, res) handler answers, with a health endpoint and request logs', () =>
  withBridge('plain.js', async (b) => {
    const r = await request(b.sock, 'GET', '/x?y=1');
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.body, 'plain /x?y=1');
    const h = await request(b.sock, 'GET', '/__ferry/health');
    assert.strictEqual(h.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.match(b.logs(), /"method":"GET","path":"\/x\?y=1","status":200/);
  }));

test('Vercel-style helpers: query, cookies, JSON and form bodies, status/json/send/redirect', () =>
  withBridge('helpers.js', async (b) => {
    const r = await request(b.sock, 'POST', '/api?a=1&a=2&b=x', {
      headers: { cookie: 'sid=abc; theme=dark%20mode', 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world' }),
    });
    assert.strictEqual(r.status, 201);
    assert.match(r.headers['content-type'], /application\/json/);
    assert.deepStrictEqual(JSON.parse(r.body), {
      query: { a: ['1', '2'], b: 'x' },
      cookies: { sid: 'abc', theme: 'dark mode' },
      body: { hello: 'world' },
    });
    const form = await request(b.sock, 'POST', '/', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'k=v&n=1',
    });
    assert.deepStrictEqual(JSON.parse(form.body).body, { k: 'v', n: '1' });
    const bad = await request(b.sock, 'POST', '/', {
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    assert.strictEqual(bad.status, 400);
    const text = await request(b.sock, 'GET', '/text');
    assert.strictEqual(text.status, 202);
    assert.strictEqual(text.body, '<b>hi</b>');
    assert.match(text.headers['content-type'], /text\/html/);
    const go = await request(b.sock, 'GET', '/go');
    assert.strictEqual(go.status, 307);
    assert.strictEqual(go.headers.location, '/there');
  }));

test('an ES module default export is served', () =>
  withBridge('esm.mjs', async (b) => {
    assert.strictEqual((await request(b.sock, 'GET', '/')).body, 'esm');
  }));

test('an app that calls listen() itself is served on the bridge socket', () =>
  withBridge('listener.js', async (b) => {
    const r = await request(b.sock, 'PUT', '/');
    assert.strictEqual(r.body, 'own server PUT');
  }));

test('a framework app object is served through its callback()', () =>
  withBridge('koa-like.js', async (b) => {
    assert.strictEqual((await request(b.sock, 'GET', '/')).body, 'koa-like');
  }));

test('an error fails the request with a 500 and a log line, not the instance', () =>
  withBridge('throws.js', async (b) => {
    const boom = await request(b.sock, 'GET', '/boom');
    assert.strictEqual(boom.status, 500);
    const later = await request(b.sock, 'GET', '/later');
    assert.strictEqual(later.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    const next = await request(b.sock, 'GET', '/');
    assert.strictEqual(next.status, 200);
    assert.strictEqual(next.body, 'fine');
    assert.match(b.logs(), /"level":"error".*boom/);
    assert.match(b.logs(), /after the answer/);
  }));

test('a module with no handler and no server fails to start within 10 s, saying why', async () => {
  const b = start('nothing.js');
  await assert.rejects(b.ready, /exports no handler and starts no server/);
});

test('a kept-open connection serves request after request, a body read or not', () =>
  withBridge('plain.js', async (b) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seen = new Set();
    for (let i = 0; i < 5; i++) {
      const r = await new Promise((resolve, reject) => {
        const post = i % 2 === 1; // (GETs without a body, POSTs with one nobody reads)
        const req = http.request({ socketPath: b.sock, method: post ? 'POST' : 'GET', path: `/n${i}`,
                                   agent, headers: { 'content-type': 'text/plain' } }, (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolve({ body: data }));
        });
        req.on('socket', (s) => seen.add(s));
        req.on('error', reject);
        req.end(post ? 'unread body' : undefined);
      });
      assert.strictEqual(r.body, `plain /n${i}`);
    }
    assert.strictEqual(seen.size, 1); // one connection for the five
    agent.destroy();
  }));
