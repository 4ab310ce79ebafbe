// node-server: the Node http peer of the libhealth benchmarks
// (tests/bench/run --with-peers).  Serves $BODY as application/health+json
// on every path, on 127.0.0.1:PORT.  LOAD=spin:N starts N worker threads
// that spin, the host load of case 8.
import http from 'node:http';
import { Worker } from 'node:worker_threads';

const port = Number(process.argv[2]);
const body = process.env.BODY || '{"status":"pass"}';
const load = (process.env.LOAD || '').match(/^spin:(\d+)$/);

if (load) {
  for (let i = 0; i < Number(load[1]); i++) {
    new Worker('for (;;) {}', { eval: true });
  }
}

http
  .createServer((req, res) => {
    res.writeHead(200, {
      'Content-Type': 'application/health+json',
      'Cache-Control': 'no-store',
    });
    res.end(body);
  })
  .listen(port, '127.0.0.1', () => {
    console.log(`listening port=${port} pid=${process.pid}`);
  });
