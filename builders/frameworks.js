'use strict';
// Which framework a project uses, from its package.json dependencies and
// vercel.json's "framework" (Vercel's slugs), and what ferry does with it:
// the folder its static build writes, or why ferry cannot serve it yet
// (a framework that needs its own server). A refused framework fails the
// build with that reason: never a site served wrong.
const fs = require('fs');
const path = require('path');

const soon = (name) =>
  `${name}: not supported by ferry yet (docs/compatibility.md); ` +
  'the build stops rather than serve the site without it';

const FRAMEWORKS = [
  { slug: 'nextjs', dep: 'next', name: 'Next.js',
    decide: (deps, pkg) => (/\bnext export\b/.test(script(pkg)) ? { output: ['out'] } : { server: 'nextjs', output: ['out'] }) },
  { slug: 'nuxtjs', dep: 'nuxt', name: 'Nuxt',
    decide: (deps, pkg) => (/\bnuxt generate\b/.test(script(pkg)) ? { output: ['.output/public', 'dist'] } : { server: 'nuxt' }) },
  { slug: 'remix', dep: '@remix-run/dev', name: 'Remix',
    decide: (deps) => (deps['@remix-run/serve'] ? { server: 'react-router' } : { refuse: soon('Remix without @remix-run/serve') }) },
  { slug: 'react-router', dep: '@react-router/dev', name: 'React Router (framework mode)',
    decide: (deps) => (deps['@react-router/serve'] ? { server: 'react-router' } : { refuse: soon('React Router without @react-router/serve') }) },
  { slug: 'sveltekit', dep: '@sveltejs/kit', name: 'SvelteKit',
    decide: (deps) => (deps['@sveltejs/adapter-static'] ? { output: ['build'] }
      : deps['@sveltejs/adapter-node'] || deps['@sveltejs/adapter-auto'] ? { server: 'sveltekit' }
      : { refuse: soon('SvelteKit with a platform adapter (vercel, netlify, cloudflare)') }) },
  { slug: 'astro', dep: 'astro', name: 'Astro',
    decide: (deps) => (deps['@astrojs/node'] ? { server: 'astro' }
      : Object.keys(deps).some((d) => /^@astrojs\/(vercel|netlify|cloudflare)$/.test(d))
        ? { refuse: soon('Astro with a platform adapter other than @astrojs/node') } : { output: ['dist'] }) },
  { slug: 'gatsby', dep: 'gatsby', name: 'Gatsby',
    // (its static build only: Functions, SSR and DSG pages need a Gatsby adapter's server)
    decide: (deps, pkg, src) => {
      const runtime = gatsbyRuntime(src || '.');
      return runtime ? { refuse: soon(`Gatsby ${runtime}`) } : { output: ['public'] };
    } },
  { slug: 'docusaurus-2', dep: '@docusaurus/core', name: 'Docusaurus', decide: () => ({ output: ['build'] }) },
  { slug: 'vitepress', dep: 'vitepress', name: 'VitePress',
    // (its projects build with a docs:build script: the build is run as that does)
    decide: (deps, pkg, src) => ({ output: ['docs/.vitepress/dist', '.vitepress/dist'],
      build: fs.existsSync(path.join(src || '.', 'docs')) ? 'vitepress build docs' : 'vitepress build' }) },
  { slug: 'eleventy', dep: '@11ty/eleventy', name: 'Eleventy', decide: () => ({ output: ['_site'] }) },
  { slug: 'vite', dep: 'vite', name: 'Vite', decide: () => ({ output: ['dist'] }) },
  // a Node server that is built first (TypeScript: create-hono's nodejs
  // template, `tsc` then `node dist/index.js`): its start script, run as a
  // server. Without a build script the node builder takes it as it is.
  ...['hono', 'express', 'fastify', 'koa', 'h3', 'elysia'].map((dep) => ({
    slug: dep, dep, name: dep[0].toUpperCase() + dep.slice(1),
    decide: (deps, pkg) => (script(pkg) && pkg.scripts.start ? { server: 'node-start' } : null),
  })),
];

/// What of a Gatsby site needs a server at runtime: "Functions (src/api/)",
/// "SSR (getServerData in FILE)", "DSG (defer in FILE)", or null.
function gatsbyRuntime(src) {
  if (fs.existsSync(path.join(src, 'src', 'api'))) return 'Functions (src/api/)';
  const walk = (dir) => {
    let entries = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      return null;
    }
    for (const e of entries) {
      const f = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'node_modules') {
        const found = walk(f);
        if (found) return found;
      } else if (e.isFile() && /\.[jt]sx?$/.test(e.name)) {
        const text = fs.readFileSync(f, 'utf8');
        const rel = path.relative(src, f);
        if (/\bgetServerData\b/.test(text)) return `SSR (getServerData in ${rel})`;
        if (/\bexport\s+(async\s+)?function\s+config\b|\bexport\s+const\s+config\b/.test(text) &&
            /\bdefer\s*:/.test(text)) return `DSG (defer in ${rel})`;
      }
    }
    return null;
  };
  return walk(path.join(src, 'src', 'pages')) || walk(path.join(src, 'src', 'templates'));
}

function script(pkg) {
  return (pkg && pkg.scripts && pkg.scripts.build) || '';
}

/// The framework a project uses ({slug, name, output}, with server: the
/// plugin in servers/ that makes its server a function; or {slug, name,
/// refuse}), or null for none ferry knows.
function frameworkOf(pkg, config, src) {
  const deps = { ...((pkg && pkg.dependencies) || {}), ...((pkg && pkg.devDependencies) || {}) };
  if (config.framework === null || config.framework === 'other') return null;
  let fw;
  if (typeof config.framework === 'string') {
    fw = FRAMEWORKS.find((f) => f.slug === config.framework);
    if (!fw) throw new Error(`framework "${config.framework}" (vercel.json) is not one ferry knows ` +
                             `(${FRAMEWORKS.map((f) => f.slug).join(', ')}, or null)`);
  } else {
    fw = FRAMEWORKS.find((f) => deps[f.dep] && f.decide(deps, pkg, src) !== null);
  }
  const decided = fw && fw.decide(deps, pkg, src);
  return decided ? { slug: fw.slug, name: fw.name, ...decided } : null;
}

module.exports = { frameworkOf, FRAMEWORKS };
