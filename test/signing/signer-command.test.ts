/**
 * createCommandSigner (--signer-command): the digest on stdin / the Sig_structure in EIF_SIGN_TBS_HEX, a DER or
 * r‖s signature back — exercised with openssl as the "HSM" — and every failure closed with a stable code.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/eif.js';
import { CURVES, HAVE_OPENSSL, makeEcKey, writeFile, type TestKey } from './keys.js';
import { createCommandSigner } from '../../src/node/signer-command.js';
import { inspectSignatureSection } from '../../src/signing/verify.js';
import { EifError } from '../../src/errors.js';
import { codeOf } from '../helpers/errors.js';

const PCR0 = Uint8Array.from({ length: 48 }, (_, i) => (i * 3 + 17) & 0xff);

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(!HAVE_OPENSSL)('createCommandSigner', () => {
  const dir = tempDir();
  const keys = {} as Record<string, TestKey>;
  beforeAll(() => {
    for (const c of CURVES) keys[c] = makeEcKey(dir, c, c);
    keys.other = makeEcKey(dir, 'other', 'P-384');
  });

  for (const curve of CURVES) {
    it(`${curve}: "openssl pkeyutl -sign" on the digest from stdin (DER out) verifies`, async () => {
      const k = keys[curve]!;
      const signer = await createCommandSigner({ certificatePem: k.certPem, command: `openssl pkeyutl -sign -inkey ${q(k.keyPath)}` });
      const r = await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0);
      expect([r.signatureValid, r.payloadMatches]).toEqual([true, true]);
    });
  }

  it('an "openssl dgst"-based script that hashes EIF_SIGN_TBS_HEX itself with EIF_SIGN_HASH', async () => {
    const k = keys['P-384']!;
    const script = writeFile(dir, 'sign.sh', `#!/bin/sh\nset -e\nprintf '%s' "$EIF_SIGN_TBS_HEX" | xxd -r -p | openssl dgst -"$EIF_SIGN_HASH" -sign ${q(k.keyPath)}\n`);
    const signer = await createCommandSigner({ certificatePem: k.certPem, command: `sh ${q(script)}` });
    const r = await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0);
    expect([r.signatureValid, r.payloadMatches]).toEqual([true, true]);
  });

  it('a raw r‖s signature on stdout is accepted too', async () => {
    const k = keys['P-256']!;
    // DER -> r‖s with openssl asn1parse output, to play an HSM that returns raw signatures.
    const script = writeFile(
      dir,
      'raw.sh',
      `#!/bin/sh\nset -e\nopenssl pkeyutl -sign -inkey ${q(k.keyPath)} > "$0.der"\n` +
        `openssl asn1parse -inform DER -in "$0.der" | awk -F: '/INTEGER/ {print $NF}' | while read h; do printf '%064s' "$h" | tr ' ' 0; done | xxd -r -p\n`,
    );
    const signer = await createCommandSigner({ certificatePem: k.certPem, command: `sh ${q(script)}` });
    const r = await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0);
    expect(r.signatureValid).toBe(true);
  });

  const failing: [string, string | (() => string), string, number?][] = [
    ['exits non-zero', 'echo "token not present" >&2; exit 3', 'SIG_COMMAND_FAILED'],
    ['prints something that is no signature', 'echo hello', 'SIG_SIGNER_BAD_OUTPUT'],
    ['prints nothing', 'true', 'SIG_SIGNER_BAD_OUTPUT'],
    ['prints megabytes', 'head -c 1000000 /dev/zero', 'SIG_SIGNER_BAD_OUTPUT'],
    ['signs with another key', () => `openssl pkeyutl -sign -inkey ${q(keys.other!.keyPath)}`, 'SIG_KEY_CERT_MISMATCH'],
    ['does not exist', 'no-such-signer-command-xyz', 'SIG_COMMAND_FAILED'],
    ['hangs', 'sleep 30', 'SIG_COMMAND_TIMEOUT', 300],
  ];
  for (const [what, cmd, code, timeoutMs] of failing) {
    it(`a command that ${what} -> ${code}`, async () => {
      const signer = await createCommandSigner({
        certificatePem: keys['P-384']!.certPem,
        command: typeof cmd === 'string' ? cmd : cmd(),
        ...(timeoutMs ? { timeoutMs } : {}),
      });
      const started = Date.now();
      expect(await codeOf(signer.signatureSection(PCR0))).toBe(code);
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  }

  it('an empty command is a usage error', async () => {
    const e = await createCommandSigner({ certificatePem: keys['P-384']!.certPem, command: '  ' }).catch((x: EifError) => x);
    expect(e).toBeInstanceOf(EifError);
    expect((e as EifError).exitCode).toBe(2);
  });
});
