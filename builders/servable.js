'use strict';
// What a project's root may serve as static files when it has no output
// folder (no public/, no outputDirectory): never a dotfile or dot-folder
// (.env, .git, .npmrc; .well-known/ excepted), node_modules, a lockfile,
// package.json or the configuration of ferry, Vercel or TypeScript.
const NEVER = new Set([
  'package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml',
  'pnpm-workspace.yaml', 'yarn.lock', 'bun.lockb', 'bun.lock', 'ferry.json', 'vercel.json',
  'tsconfig.json', 'jsconfig.json',
]);

module.exports = function servableFromRoot(file) {
  const parts = file.split('/');
  if (parts.length === 1 && NEVER.has(file)) return false;
  return parts.every((p, i) =>
    p !== 'node_modules' && !(p.startsWith('.') && !(i === 0 && p === '.well-known')));
};
