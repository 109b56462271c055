import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runH2Fuzz } from '../../../fuzz/h2.js';

// A short, seeded round of `npm run fuzz:h2`: the same invariant, bounded in time and count.
for (const seed of [1, 2]) {
  test(`fuzz h2, seed ${seed}: any bytes after the preface give events and frames, never a throw, the same whole or split`, () => {
    const result = runH2Fuzz({ seconds: 0.5, seed, maxInputs: 5_000 });
    assert.equal(result.failure, null, result.failure ? `${result.failure.input.toString('hex')}\n${result.failure.message}` : '');
    assert.ok(result.inputs > 100, `only ${result.inputs} inputs ran`);
  });
}
