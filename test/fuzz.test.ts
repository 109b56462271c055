import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from '../fuzz/parsers.js';

// A short, seeded round of `npm run fuzz`: the same invariant, bounded in time and count.
for (const seed of [1, 2, 3]) {
  test(`fuzz, seed ${seed}: any input parses or raises HttpProtocolError, the same whole or split`, () => {
    const result = runFuzz({ seconds: 2, seed, maxInputs: 20_000 });
    assert.equal(
      result.failure,
      null,
      result.failure ? `${result.failure.kind}: ${JSON.stringify(result.failure.input.toString('latin1'))}\n${result.failure.message}` : '',
    );
    assert.ok(result.inputs > 100, `only ${result.inputs} inputs ran`);
  });
}
