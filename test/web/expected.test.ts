/**
 * The page's expected values (web/src/expected.ts): measurement JSON and PCR lines, PCR3/PCR4 from a role ARN and
 * an instance ID (the AWS user guide's values), the URL fragment both ways, and refusals with their codes.
 */
import { describe, expect, it } from 'vitest';
import { fromFragment, parseExpected, toFragment } from '../../web/src/expected.js';

const P = (c: string) => c.repeat(96);
const none = { roleArn: '', instanceId: '' };

describe('expected values of the page', () => {
  it('reads nitro-cli / eif describe JSON: PCR0/1/2, and PCR8 as zeros when the image is unsigned', () => {
    const json = JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: P('a'), PCR1: P('b'), PCR2: P('c') }, IsSigned: false });
    expect(parseExpected({ text: json, ...none }).map((e) => [e.index, e.hex])).toEqual([[0, P('a')], [1, P('b')], [2, P('c')], [8, P('0')]]);
    const signed = JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: P('a'), PCR1: P('b'), PCR2: P('c'), PCR8: P('d') }, IsSigned: true });
    expect(parseExpected({ text: signed, ...none }).find((e) => e.index === 8)!.hex).toBe(P('d'));
    expect(() => parseExpected({ text: '{"Measurements": {"HashAlgorithm": "x", "PCR0": "00"}}', ...none })).toThrow(expect.objectContaining({ code: 'ATT_POLICY_INVALID' }));
  });

  it('reads PCR lines in several spellings, upper-case hex too, with comments and blank lines', () => {
    const text = `# ours\nPCR0=${P('A')}\n\npcr1: ${P('b')}\n2 ${P('c')}  # trailing comment\n`;
    expect(parseExpected({ text, ...none }).map((e) => [e.index, e.hex, e.source])).toEqual([[0, P('a'), 'line 2'], [1, P('b'), 'line 4'], [2, P('c'), 'line 5']]);
  });

  it('PCR3 from a role ARN and PCR4 from an instance ID (AWS user guide values)', () => {
    const r = parseExpected({ text: '', roleArn: 'arn:aws:iam::123456789012:role/Webserver', instanceId: 'i-1234567890abcdef0' });
    expect(r).toEqual([
      { index: 3, hex: '78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6', source: 'role ARN' },
      { index: 4, hex: '08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0', source: 'instance ID' },
    ]);
  });

  it('refuses what it cannot read, with WEB_EXPECTED_INVALID and where', () => {
    const bad = (text: string, roleArn = '', instanceId = '') => () => parseExpected({ text, roleArn, instanceId });
    expect(bad('PCR0=abc')).toThrow(expect.objectContaining({ code: 'WEB_EXPECTED_INVALID', message: expect.stringContaining('line 1') }));
    expect(bad(`PCR32=${P('a')}`)).toThrow(expect.objectContaining({ code: 'WEB_EXPECTED_INVALID' }));
    expect(bad('hello world')).toThrow(expect.objectContaining({ code: 'WEB_EXPECTED_INVALID' }));
    expect(bad(`PCR0=${P('a')}\nPCR0=${P('b')}`)).toThrow(expect.objectContaining({ code: 'WEB_EXPECTED_INVALID', message: expect.stringContaining('twice') }));
    expect(bad('', 'arn:aws:iam::12:role/x')).toThrow(expect.objectContaining({ code: 'WEB_EXPECTED_INVALID' }));
    expect(bad('', '', 'instance-1')).toThrow(expect.objectContaining({ code: 'WEB_EXPECTED_INVALID' }));
    expect(bad(`PCR0=${P('a')}\nPCR0=${P('A')}`)).not.toThrow(); // the same value twice is fine
  });

  it('the fragment carries the values and gives them back', () => {
    const input = { text: `PCR2=${P('c')}\nPCR0=${P('a')}`, roleArn: 'arn:aws:iam::123456789012:role/app/Web+server@x', instanceId: 'i-0123456789abcdef0' };
    const frag = toFragment(input);
    expect(frag).toBe(`#PCR0=${P('a')}&PCR2=${P('c')}&role=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fapp%2FWeb%2Bserver%40x&instance=i-0123456789abcdef0`);
    const back = fromFragment(frag);
    expect(back).toEqual({ text: `PCR0=${P('a')}\nPCR2=${P('c')}`, roleArn: input.roleArn, instanceId: input.instanceId });
    expect(parseExpected(back)).toEqual(parseExpected(input).map((e) => (e.index === 0 ? { ...e, source: 'line 1' } : e.index === 2 ? { ...e, source: 'line 2' } : e)));
    expect(toFragment({ text: '', ...none })).toBe('');
    expect(fromFragment('#unknown=1')).toEqual({ text: '', roleArn: '', instanceId: '' });
  });
});
