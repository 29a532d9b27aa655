'use strict';
// The Node builder: every api/**/*.{js,mjs,cjs,ts} becomes a function with
// its own route; the rest of the project ships with each function (so that
// relative imports resolve); public/ (or, without one, the project's other
// files) is served as static files.
const fs = require('fs');
const path = require('path');

const FUNCTION = /^api\/(.+)\.(js|mjs|cjs|ts)$/;

function copy(workPath, files, dest) {
  for (const f of files) {
    if (f.startsWith('public/')) continue;
    const to = path.join(dest, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(workPath, f), to);
  }
}

module.exports = async function nodeBuilder({ files, workPath, outputPath, config, log }) {
  const functions = files.filter((f) => FUNCTION.test(f) && !path.basename(f).startsWith('_'));
  if (functions.length === 0) throw new Error('no functions: put them in api/ (api/hello.js, ...)');
  const fnConfig = config.functions || {};
  const routes = [];
  for (const f of functions) {
    const [, name, ext] = f.match(FUNCTION);
    if (ext === 'ts') throw new Error(`${f}: TypeScript functions are not supported yet`);
    const dir = path.join(outputPath, 'functions', `api/${name}.func`);
    copy(workPath, files, dir);
    const own = fnConfig[f] || {};
    fs.writeFileSync(path.join(dir, '.vc-config.json'), JSON.stringify({
      runtime: 'nodejs20.x',
      handler: f,
      launcherType: 'Nodejs',
      shouldAddHelpers: true,
      memory: own.memory || 256,
      maxDuration: own.maxDuration || 10,
    }, null, 2) + '\n');
    routes.push({ src: `/api/${name}`, dest: `/api/${name}`, function: `api/${name}` });
    log(`ferry: node: function api/${name} from ${f}`);
  }
  // Static files: public/ if there is one, else the project's other files
  // (not the functions, their manifests, or ferry's own files).
  const hasPublic = files.some((f) => f.startsWith('public/'));
  const NOT_STATIC = /^(api\/|node_modules\/)|^(package\.json|package-lock\.json|ferry\.json|\.ferryignore|tsconfig\.json)$/;
  for (const f of files) {
    if (hasPublic ? !f.startsWith('public/') : NOT_STATIC.test(f)) continue;
    const dest = path.join(outputPath, 'static', hasPublic ? f.slice('public/'.length) : f);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(path.join(workPath, f), dest);
  }
  return { routes };
};
