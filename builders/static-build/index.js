'use strict';
// The static-build builder: `npm run build`, then its output folder
// ("outputDirectory" in ferry.json, else the first of dist, build, out,
// public that exists) is served as static files.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

module.exports = async function staticBuild({ workPath, outputPath, config, log }) {
  log('ferry: static-build: npm run build');
  const run = spawnSync('npm', ['run', 'build'], { cwd: workPath, stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`npm run build exited with ${run.status ?? run.signal}`);
  const candidates = config.outputDirectory ? [config.outputDirectory] : ['dist', 'build', 'out', 'public'];
  const found = candidates.find((d) => fs.existsSync(path.join(workPath, d)));
  if (!found) throw new Error(`the build made none of ${candidates.join(', ')}`);
  fs.cpSync(path.join(workPath, found), path.join(outputPath, 'static'), { recursive: true });
  log(`ferry: static-build: serving ${found}/`);
  return { routes: [] };
};
