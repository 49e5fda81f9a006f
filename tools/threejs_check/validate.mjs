// Khronos glTF validator on GLB files: `node validate.mjs a.glb [b.glb ...]` prints one JSON line per file
// {file, errors, warnings, infos, hints, messages: [{code, severity, pointer, message}]} (severity 0 = error,
// 1 = warning). Exit code 0 unless a file could not be read.
import { readFile } from 'node:fs/promises';
import validator from 'gltf-validator';

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const data = new Uint8Array(await readFile(file));
    const report = await validator.validateBytes(data, { maxIssues: 200, uri: file });
    const issues = report.issues;
    console.log(JSON.stringify({
      file, errors: issues.numErrors, warnings: issues.numWarnings, infos: issues.numInfos, hints: issues.numHints,
      messages: issues.messages.map((m) => ({ code: m.code, severity: m.severity, pointer: m.pointer, message: m.message })),
    }));
  } catch (e) {
    console.log(JSON.stringify({ file, error: String(e && e.message || e) }));
    failed = 1;
  }
}
process.exit(failed);
