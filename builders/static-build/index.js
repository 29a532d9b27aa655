'use strict';
// The static-build builder: the project's build (`buildCommand` from
// ferry.json or vercel.json, else `npm run build`), then its output folder
// is served as static files: "outputDirectory", else the folder of the
// framework it uses (frameworks.js), else the first of dist, build, out,
// public that exists.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { frameworkOf } = require('../frameworks.js');

module.exports = async function staticBuild({ workPath, outputPath, config, pkg, log }) {
  const fw = frameworkOf(pkg, config, workPath);
  if (fw && fw.refuse) throw new Error(fw.refuse);
  const server = fw && fw.server ? require(path.join(__dirname, '..', 'servers', `${fw.server}.js`)) : null;
  const env = { ...process.env, ...(server ? server.env : {}) };
  if (server && server.prepare) server.prepare({ workPath, config, pkg, log });
  const command = typeof config.buildCommand === 'string' ? config.buildCommand : null;
  if (command === '') {
    log('ferry: static-build: no build (buildCommand is empty)');
  } else if (command) {
    log(`ferry: static-build: ${command}`);
    const run = spawnSync('/bin/sh', ['-c', command], { cwd: workPath, stdio: 'inherit', env });
    if (run.status !== 0)
      throw new Error(`buildCommand exited with ${run.status ?? run.signal}${server && server.failureHint ? server.failureHint() : ''}`);
  } else if (!(pkg && pkg.scripts && pkg.scripts.build) && fw && fw.build) {
    log(`ferry: static-build: ${fw.build} (${fw.name}, no build script)`);
    const bin = path.join(workPath, 'node_modules', '.bin');
    const run = spawnSync('/bin/sh', ['-c', fw.build], { cwd: workPath, stdio: 'inherit',
      env: { ...env, PATH: `${bin}:${env.PATH}` } });
    if (run.status !== 0) throw new Error(`${fw.build} exited with ${run.status ?? run.signal}`);
  } else {
    log(`ferry: static-build: npm run build${fw ? ` (${fw.name})` : ''}`);
    const run = spawnSync('npm', ['run', 'build'], { cwd: workPath, stdio: 'inherit', env });
    if (run.status !== 0)
      throw new Error(`npm run build exited with ${run.status ?? run.signal}${server && server.failureHint ? server.failureHint() : ''}`);
  }
  if (server) {
    const made = server.collect({ workPath, outputPath, config, pkg, log });
    if (made) return { ...made, serverApp: true }; // (null: it made a static site after all)
  }
  const candidates = config.outputDirectory ? [config.outputDirectory]
    : fw ? fw.output : ['dist', 'build', 'out', 'public'];
  if (candidates.some((d) => d.split('/').includes('..'))) throw new Error('outputDirectory may not contain ".."');
  if (candidates.some((d) => ['', '.', './', '/'].includes(d.trim())))
    throw new Error('outputDirectory is a folder the build writes, not the project itself');
  const found = candidates.find((d) => fs.existsSync(path.join(workPath, d)));
  if (!found) throw new Error(`the build made none of ${candidates.join(', ')}` +
                              (config.outputDirectory ? '' : ' (set outputDirectory in vercel.json or ferry.json)'));
  fs.cpSync(path.join(workPath, found), path.join(outputPath, 'static'),
            { recursive: true, verbatimSymlinks: true });
  log(`ferry: static-build: serving ${found}/`);
  return { routes: [] };
};
