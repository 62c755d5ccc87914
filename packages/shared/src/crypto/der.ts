// The few DER structures Outpost writes itself: a PKCS#10 certification request (RFC 2986)
// with an ECDSA-with-SHA256 signature. Enough ASN.1 for that and nothing more; reading
// certificates is node:crypto's or @peculiar/x509's job.

const oids: Record<string, number[]> = {
  CN: [2, 5, 4, 3],
  C: [2, 5, 4, 6],
  L: [2, 5, 4, 7],
  ST: [2, 5, 4, 8],
  O: [2, 5, 4, 10],
  OU: [2, 5, 4, 11],
  ecdsaWithSha256: [1, 2, 840, 10045, 4, 3, 2],
};

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));

function oid(parts: number[]): Buffer {
  const [a = 0, b = 0, ...rest] = parts;
  const out = [40 * a + b];
  for (const p of rest) {
    const base128: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    out.push(...base128);
  }
  return tlv(0x06, Buffer.from(out));
}

/** Name: one RDN per attribute, values as UTF8String. */
function name(attrs: [string, string][]): Buffer {
  return seq(
    ...attrs.map(([key, value]) => {
      const id = oids[key];
      if (!id) throw new Error(`unsupported subject attribute ${key}`);
      return set(seq(oid(id), tlv(0x0c, Buffer.from(value, 'utf8'))));
    }),
  );
}

/** CertificationRequestInfo: version 0, subject, the DER SubjectPublicKeyInfo, no attributes. */
export function encodeCsrInfo(subject: [string, string][], spki: Buffer): Buffer {
  return seq(tlv(0x02, Buffer.from([0])), name(subject), spki, Buffer.from([0xa0, 0x00]));
}

/** CertificationRequest: info, ecdsa-with-SHA256, and the DER signature as a BIT STRING. */
export function encodeSignedCsr(info: Buffer, derSignature: Buffer): Buffer {
  return seq(
    info,
    seq(oid(oids.ecdsaWithSha256 as number[])),
    tlv(0x03, Buffer.concat([Buffer.from([0]), derSignature])),
  );
}
