/**
 * A TLS-terminating proxy in front of the plaintext Temporal dev server (which has no TLS flags): it speaks TLS
 * with ALPN h2 to the client and pipes the decrypted bytes to the dev server's port, as a load balancer or
 * service mesh in front of a real cluster does. With `clientCa` it requires a client certificate signed by it.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export interface TlsProxy {
  address: string;
  /** TLS sessions that completed the handshake (and so reached the dev server). */
  sessions(): number;
  /** Handshakes the proxy refused, with the reason. */
  refusals(): string[];
  close(): Promise<void>;
}

export async function startTlsProxy(opts: {
  target: string;
  cert: string;
  key: string;
  clientCa?: string;
}): Promise<TlsProxy> {
  const [host, port] = opts.target.split(':') as [string, string];
  let sessions = 0;
  const refusals: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    {
      cert: fs.readFileSync(opts.cert),
      key: fs.readFileSync(opts.key),
      ALPNProtocols: ['h2'],
      ...(opts.clientCa && { ca: fs.readFileSync(opts.clientCa), requestCert: true, rejectUnauthorized: true }),
    },
    (client) => {
      sessions += 1;
      const upstream = net.connect(Number(port), host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    },
  );
  server.on('tlsClientError', (err) => refusals.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: listening } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${listening}`,
    sessions: () => sessions,
    refusals: () => [...refusals],
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
