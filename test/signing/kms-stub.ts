/**
 * A loopback-only stand-in for AWS KMS speaking its JSON protocol (POST /, X-Amz-Target TrentService.Sign /
 * TrentService.GetPublicKey, application/x-amz-json-1.1), so the real AWS SDK can be exercised without a network.
 * Signing is done by `openssl pkeyutl` on the digest the client sends (MessageType DIGEST), like KMS does.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openssl } from './keys.js';

export interface StubKey {
  keyPath: string;
  keySpec: string;
}

export interface KmsStub {
  url: string;
  /** Requests seen: target and parsed body. */
  requests: { target: string; body: Record<string, unknown> }[];
  /** Behaviour switches for the next requests. */
  behaviour: { denyGetPublicKey?: boolean; failSign?: boolean; signWith?: string; publicKeyOf?: string };
  close(): Promise<void>;
}

export async function startKmsStub(keys: Record<string, StubKey>): Promise<KmsStub> {
  const requests: KmsStub['requests'] = [];
  const behaviour: KmsStub['behaviour'] = {};
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { __type: 'SerializationException', message: 'bad JSON' });
      }
      requests.push({ target, body });
      if (req.method !== 'POST' || String(req.headers['content-type']) !== 'application/x-amz-json-1.1') {
        return reply(400, { __type: 'SerializationException', message: 'expected a JSON 1.1 POST' });
      }
      const key = keys[String(body.KeyId)];
      if (!key) return reply(400, { __type: 'NotFoundException', message: `key ${body.KeyId} not found` });
      if (target === 'TrentService.GetPublicKey') {
        if (behaviour.denyGetPublicKey) return reply(400, { __type: 'AccessDeniedException', message: 'not allowed: kms:GetPublicKey' });
        const spki = openssl(['pkey', '-in', behaviour.publicKeyOf ?? key.keyPath, '-pubout', '-outform', 'DER']);
        return reply(200, {
          KeyId: body.KeyId,
          PublicKey: spki.toString('base64'),
          KeySpec: key.keySpec,
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: ['ECDSA_SHA_256', 'ECDSA_SHA_384', 'ECDSA_SHA_512'],
        });
      }
      if (target === 'TrentService.Sign') {
        if (behaviour.failSign) return reply(400, { __type: 'KMSInvalidStateException', message: 'key is pending deletion' });
        if (body.MessageType !== 'DIGEST') return reply(400, { __type: 'ValidationException', message: 'stub expects DIGEST' });
        const digest = Buffer.from(String(body.Message), 'base64');
        const der = openssl(['pkeyutl', '-sign', '-inkey', behaviour.signWith ?? key.keyPath], digest);
        return reply(200, { KeyId: body.KeyId, Signature: der.toString('base64'), SigningAlgorithm: body.SigningAlgorithm });
      }
      return reply(400, { __type: 'UnknownOperationException', message: target });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    behaviour,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
