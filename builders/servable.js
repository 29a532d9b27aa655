'use strict';
// What a project's root may serve as static files when it has no output
// folder (no public/, no outputDirectory): never a dotfile or dot-folder
// (.env, .git, .npmrc; .well-known/ excepted), node_modules, a lockfile,
// package.json, the configuration of ferry, Vercel or TypeScript, or the
// Routing Middleware.
const NEVER = new Set([
  'package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml',
  'pnpm-workspace.yaml', 'yarn.lock', 'bun.lockb', 'bun.lock', 'ferry.json', 'vercel.json',
  'tsconfig.json', 'jsconfig.json',
]);

module.exports = function servableFromRoot(file) {
  const parts = file.split('/');
  if (parts.length === 1 && NEVER.has(file)) return false;
  if (/^(src\/)?middleware\.(js|mjs|cjs|ts|mts)$/.test(file)) return false; // (Routing Middleware runs)
  return parts.every((p, i) =>
    p !== 'node_modules' && !(p.startsWith('.') && !(i === 0 && p === '.well-known')));
};
