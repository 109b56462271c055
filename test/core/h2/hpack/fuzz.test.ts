import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runHpackFuzz } from '../../../../fuzz/hpack.js';

// A short, seeded round of `npm run fuzz:hpack`: the same invariant, bounded in time and count.
for (const seed of [1, 2]) {
  test(`fuzz hpack, seed ${seed}: any block decodes or raises HpackError, and what decodes round-trips`, () => {
    const result = runHpackFuzz({ seconds: 1, seed, maxInputs: 20_000 });
    assert.equal(result.failure, null, result.failure ? `${result.failure.input.toString('hex')}\n${result.failure.message}` : '');
    assert.ok(result.inputs > 100, `only ${result.inputs} blocks ran`);
  });
}
