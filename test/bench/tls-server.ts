// A bare mTLS server for the key-type benchmark, run as its own process so the client
// and the server each get a core: `node tls-server.ts DIR` serves DIR/{server.key,
// server.crt,ca.crt}, prints its port, and answers every handshake with one byte.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:tls';

const dir = process.argv[2] as string;
const server = createServer(
  {
    key: readFileSync(join(dir, 'server.key')),
    cert: readFileSync(join(dir, 'server.crt')),
    ca: readFileSync(join(dir, 'ca.crt')),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  },
  (socket) => socket.end('k'),
);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
