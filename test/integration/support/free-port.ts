import { createServer } from 'node:net';

/**
 * A port free on 127.0.0.1 right now (the kernel picks it), for a child's admin server: a fixed
 * port collides with another run of the same test on the machine.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
