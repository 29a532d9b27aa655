'use strict';
// The static builder: the site as it is, or its public/ folder (or the
// folder named by "outputDirectory" in ferry.json). From the project's
// root, never its dotfiles, node_modules, lockfiles or package.json
// (servable.js).
const fs = require('fs');
const path = require('path');

const servableFromRoot = require('../servable.js');

module.exports = async function staticBuilder({ files, workPath, outputPath, config, log }) {
  let root = config.outputDirectory || (files.some((f) => f.startsWith('public/')) ? 'public' : '');
  root = root.replace(/\/+$/, '');
  if (root.split('/').includes('..')) throw new Error('outputDirectory may not contain ".."');
  const prefix = root ? `${root}/` : '';
  let copied = 0;
  for (const f of files) {
    if (!f.startsWith(prefix) || (!root && !servableFromRoot(f))) continue;
    const dest = path.join(outputPath, 'static', f.slice(prefix.length));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(path.join(workPath, f), dest);
    copied++;
  }
  if (copied === 0) throw new Error(`no files to serve in "${root || '.'}"`);
  log(`ferry: static: ${copied} file(s) from ${root || 'the project root'}`);
  return { routes: [] };
};
