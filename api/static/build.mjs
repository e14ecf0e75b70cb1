// The one front-end build (`npm run build`): everything the templates load from
// /static/vendor/ — htmx, the bpmn-js viewer and modeller bundles, the dmn-js editor bundle,
// and the styles and fonts of bpmn-js and dmn-js — from the packages npm installed (no CDN).
// The Makefile and the Dockerfile's assets stage both run it; tests/test_assets.py checks that
// every file a template references is here.
//
// It builds into a fresh directory next to api/static/vendor/ and then swaps it in, so a stale
// file from an earlier build never survives and a failed build leaves the previous one whole.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(root, 'api', 'static', 'src');
const vendor = join(root, 'api', 'static', 'vendor');
const next = `${vendor}.next`;
const modules = join(root, 'node_modules');

function copy(from, to) {
  const source = join(modules, from);
  if (!existsSync(source)) {
    throw new Error(`${from} is missing from node_modules: run npm ci`);
  }
  cpSync(source, join(next, to), { recursive: true });
}

async function bundle(entry, outfile) {
  await build({
    entryPoints: [join(src, entry)],
    outfile: join(next, outfile),
    bundle: true,
    format: 'iife',
    minify: true,
    logLevel: 'warning',
    absWorkingDir: root,
  });
}

rmSync(next, { recursive: true, force: true });
mkdirSync(next, { recursive: true });

copy('htmx.org/dist/htmx.min.js', 'htmx.min.js');
// the diagram viewer (bpmn-js + bpmn-auto-layout) for the contract history page
await bundle('viewer.js', 'viewer.js');
// the modeller and its properties panel; esbuild writes the panel's CSS to modeller.css
await bundle('modeller.js', 'modeller.js');
// the decision-table editor (dmn-js Modeler)
await bundle('dmn.js', 'dmn.js');
for (const file of ['diagram-js.css', 'bpmn-js.css', 'bpmn-font']) {
  copy(join('bpmn-js', 'dist', 'assets', file), join('bpmn', file));
}
for (const file of [
  'diagram-js.css',
  'dmn-js-shared.css',
  'dmn-js-drd.css',
  'dmn-js-decision-table.css',
  'dmn-js-decision-table-controls.css',
  'dmn-js-literal-expression.css',
  'dmn-js-boxed-expression.css',
  'dmn-js-boxed-expression-controls.css',
  'dmn-font',
]) {
  copy(join('dmn-js', 'dist', 'assets', file), join('dmn', file));
}

rmSync(vendor, { recursive: true, force: true });
renameSync(next, vendor);
