// Evaluates IAM requests with @cloud-copilot/iam-simulate (test-only, AGPL-3.0, never shipped).
//
// stdin:  a JSON array of {"name": str, "simulation": <iam-simulate Simulation>}
// stdout: a JSON array of {"name": str, "result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | ...}
//         where result is the request analysis, or "error: ..." when the simulator rejected the input.
'use strict';

const { runSimulation } = require('@cloud-copilot/iam-simulate');

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function main() {
  const cases = JSON.parse(await readStdin());
  const results = [];
  for (const { name, simulation } of cases) {
    const outcome = await runSimulation(simulation, {});
    const result =
      outcome.resultType === 'single'
        ? outcome.result.analysis.result
        : `error: ${JSON.stringify(outcome).slice(0, 500)}`;
    results.push({ name, result });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
