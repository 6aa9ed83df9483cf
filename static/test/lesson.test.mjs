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

import { blocks, doParts, showMeHref, hintDue, progressMessage } from '../lesson.js';

test('blocks: paragraphs, numbered and bulleted lists, fenced code', () => {
  const md = 'Every message:\n\n1. a **2-byte length**\n2. a JSON header with `byteorder`\n   and `content-length`,\n3. the content.\n\nThe server\nanswers.\n\n- one\n- two\n\n```\nnc -N 127.0.0.1 1\n  indented\n```';
  assert.deepEqual(blocks(md), [
    { t: 'p', s: 'Every message:' },
    { t: 'ol', items: ['a **2-byte length**', 'a JSON header with `byteorder` and `content-length`,', 'the content.'] },
    { t: 'p', s: 'The server answers.' },
    { t: 'ul', items: ['one', 'two'] },
    { t: 'pre', s: 'nc -N 127.0.0.1 1\n  indented' },
  ]);
  assert.deepEqual(blocks(''), []);
  assert.deepEqual(blocks('a\n```\nnot closed'), [{ t: 'p', s: 'a' }, { t: 'pre', s: 'not closed' }]);
});

test('doParts: a command, an action in words, commands inside words', () => {
  assert.deepEqual(doParts('nc 127.0.0.1 65432'), [{ t: 'cmd', s: 'nc 127.0.0.1 65432' }]);
  assert.deepEqual(doParts("printf '\\000\\005hello' | nc -N 127.0.0.1 1"), [{ t: 'cmd', s: "printf '\\000\\005hello' | nc -N 127.0.0.1 1" }]);
  assert.deepEqual(doParts('type hello in the nc window and press Enter'), [{ t: 'text', s: 'type hello in the nc window and press Enter' }]);
  assert.deepEqual(doParts('run `python3 echo-server.py`, then: `nc 127.0.0.1 2`'), [
    { t: 'text', s: 'run ' }, { t: 'cmd', s: 'python3 echo-server.py' }, { t: 'text', s: ', then: ' }, { t: 'cmd', s: 'nc 127.0.0.1 2' },
  ]);
  assert.deepEqual(doParts(''), []);
  // A lone backtick is not code: the do is judged as a whole.
  assert.deepEqual(doParts('echo `x'), [{ t: 'cmd', s: 'echo `x' }]);
});

test('showMeHref opens the session at the step\'s seq, embedded when the panel is', () => {
  assert.equal(showMeHref('abc', 42, false), '/s/abc?at=42');
  assert.equal(showMeHref('a/b', 7, true), '/s/a%2Fb?embed=1&at=7');
});

test('hintDue offers the hint after the wait, never for a step without one', () => {
  assert.deepEqual(hintDue('', 0, 10 ** 9, 1000), { show: false, inMs: Infinity });
  assert.deepEqual(hintDue('h', 1000, 1500, 1000), { show: false, inMs: 500 });
  assert.deepEqual(hintDue('h', 1000, 2000, 1000), { show: true, inMs: 0 });
});

test('progressMessage says how far the learner is', () => {
  const run = { lesson: { id: 'x' }, steps: [{ title: 'a', done: true, done_at_seq: 5, do: 'nc' }, { title: 'b', done: false, done_at_seq: 0 }] };
  assert.deepEqual(progressMessage(run), {
    type: 'sockplay-lesson', lesson: 'x', done: 1, complete: false,
    steps: [{ title: 'a', done: true, done_at_seq: 5 }, { title: 'b', done: false, done_at_seq: 0 }],
  });
});
