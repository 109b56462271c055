/** Fields (RFC 9110 §5): case-insensitive lookups, whatever the case of the name asked for or received. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fields } from '../../src/core/fields.js';

describe('Fields: lookups by name in any case', () => {
  const fields = new Fields([
    ['Host', 'a'],
    ['HOST', 'b'],
    ['hoSt', 'c'],
    ['Hoax', 'not this one'],
    ['Accept', 'text/html'],
    ['Content-Length', '5'],
  ]);

  test('a lowercase name finds lines of every case, and only lines of that name', () => {
    assert.equal(fields.get('host'), 'a, b, c');
    assert.deepEqual(fields.getAll('host'), ['a', 'b', 'c']);
    assert.equal(fields.has('host'), true);
    assert.equal(fields.get('hoax'), 'not this one');
  });

  test('a name asked for with capitals finds the same lines', () => {
    // A line of the same length that does not equal the name as given must still be compared lowercased.
    for (const name of ['Host', 'HOST', 'hOsT']) {
      assert.equal(fields.get(name), 'a, b, c', name);
      assert.deepEqual(fields.getAll(name), ['a', 'b', 'c'], name);
      assert.equal(fields.has(name), true, name);
    }
    assert.equal(fields.get('CONTENT-LENGTH'), '5');
    assert.equal(fields.get('Accept'), 'text/html');
  });

  test('names of the same length that differ are not confused, in either case', () => {
    assert.equal(fields.get('hosT-'), undefined);
    assert.equal(fields.get('hast'), undefined);
    assert.equal(fields.get('HAST'), undefined);
    assert.equal(fields.has('accepT'), true);
    assert.equal(fields.has('accept-'), false);
    assert.deepEqual(fields.getAll('range'), []);
  });

  test('the tokens of an absent field are an empty list that nobody can change for the next caller', () => {
    const empty = new Fields();
    const tokens = empty.tokens('connection');
    assert.deepEqual(tokens, []);
    assert.throws(() => (tokens as string[]).push('close'));
    assert.deepEqual(new Fields().tokens('connection'), []);
    assert.deepEqual(new Fields([['Connection', 'Keep-Alive, Upgrade']]).tokens('CONNECTION'), ['keep-alive', 'upgrade']);
    assert.deepEqual(new Fields([['Connection', ' Close ']]).tokens('connection'), ['close']);
    assert.deepEqual(new Fields([['Connection', ' \t']]).tokens('connection'), []);
    assert.deepEqual(
      new Fields([
        ['Connection', 'close'],
        ['Connection', 'Upgrade'],
      ]).tokens('connection'),
      ['close', 'upgrade'],
    );
    assert.deepEqual(new Fields([['Connection', ', close,,']]).tokens('connection'), ['close']);
  });
});
