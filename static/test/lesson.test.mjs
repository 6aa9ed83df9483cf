import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inline, paragraphs, doneCount } from '../lesson.js';

test('inline splits code and strong, leaving HTML as text', () => {
  assert.deepEqual(inline('a `nc` **b** <i>c</i>'), [
    { t: 'text', s: 'a ' }, { t: 'code', s: 'nc' }, { t: 'text', s: ' ' }, { t: 'strong', s: 'b' }, { t: 'text', s: ' <i>c</i>' },
  ]);
  assert.deepEqual(inline(''), []);
  assert.deepEqual(inline('an `unclosed tick'), [{ t: 'text', s: 'an `unclosed tick' }]);
});

test('paragraphs joins wrapped lines and splits at blank lines', () => {
  assert.deepEqual(paragraphs('one\ntwo\n\n three \n'), ['one two', 'three']);
  assert.deepEqual(paragraphs(undefined), []);
});

test('doneCount counts done steps', () => {
  assert.equal(doneCount([{ done: true }, { done: false }, { done: true }]), 2);
});
