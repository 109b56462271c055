/**
 * The library side of bench/client.ts's keep-alive workload: COUNT sequential GETs of one URL on one
 * Agent, each body read to its end the way the README shows (for await … of response.body).
 *
 *   node dist/bench/client-sequential.js URL COUNT
 *
 * Prints one line of JSON: the milliseconds from the first request to the last body byte (process
 * start-up and module loading excluded, connection set-up and JIT warm-up included), the CPU time
 * (user + system) per request over the same span in µs, how many
 * answers were 200 with the expected body length, and how many connections the agent opened.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request } from '../src/index.js';

async function main(): Promise<void> {
  const [url, countText, lengthText] = process.argv.slice(2);
  if (url === undefined || countText === undefined) throw new Error('usage: client-sequential URL COUNT [EXPECTED_LENGTH]');
  const count = Number(countText);
  const expectedLength = lengthText === undefined ? -1 : Number(lengthText);
  const agent = new Agent();
  let good = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  try {
    for (let i = 0; i < count; i++) {
      const response = await request(url, { agent });
      let length = 0;
      for await (const chunk of response.body) length += (chunk as Buffer).length;
      if (response.status === 200 && (expectedLength < 0 || length === expectedLength)) good += 1;
    }
  } finally {
    agent.close();
  }
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMicrosPerRequest = (cpu.user + cpu.system) / count;
  process.stdout.write(`${JSON.stringify({ elapsedMs, cpuMicrosPerRequest, good, connections: agent.connectionsOpened })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`client-sequential: ${error.message}\n`);
  process.exit(1);
});
