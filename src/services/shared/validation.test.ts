import { describe, expect, it } from 'vitest';
import { textProblem } from './validation.js';

describe('textProblem', () => {
  it.each(['plain', 'Zoë & Chloé — “quoted”', '票', '🎟️ emoji pair', ''])('accepts text: %j', (value) => {
    expect(textProblem(value)).toBeNull();
  });

  it.each([
    ['NUL', 'a\u0000b'],
    ['a C0 control', '\u0001'],
    ['escape', '\u001b[31mred'],
    ['tab', 'a\tb'],
    ['line feed', 'a\nb'],
    ['carriage return', 'a\rb'],
    ['DEL', '\u007f'],
    ['a C1 control', '\u0085'],
    ['the last C1 control', '\u009f'],
  ])('refuses %s', (_what, value) => {
    expect(textProblem(value)).toBe('must not contain control characters');
  });

  it.each([
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate', 'x\udfff'],
    ['a reversed pair', '\udc00\ud800'],
  ])('refuses %s', (_what, value) => {
    expect(textProblem(value)).toBe('must not contain unpaired surrogates');
  });

  it('allows tab and line breaks in multi-line text, and nothing else', () => {
    expect(textProblem('line one\r\n\tline two', { multiline: true })).toBeNull();
    expect(textProblem('a\u0000b', { multiline: true })).toBe(
      'must not contain control characters other than tab and line breaks',
    );
    expect(textProblem('a\u000bb', { multiline: true })).not.toBeNull();
    expect(textProblem('\ud800', { multiline: true })).toBe('must not contain unpaired surrogates');
  });
});
