// lightship-server: the Node peer of the libhealth benchmarks
// (tests/bench/run --with-peers): the npm package lightship serving its
// /live, /ready and /health on 127.0.0.1:PORT.
import net from 'node:net';
import { createLightship } from 'lightship';

const port = Number(process.argv[2]);

// Keep the server on loopback whatever host lightship asks for.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] !== null && typeof args[0] === 'object') {
    args[0] = { ...args[0], host: '127.0.0.1' };
  } else if (typeof args[0] === 'number') {
    args.splice(1, typeof args[1] === 'string' ? 1 : 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};

const lightship = await createLightship({ port, detectKubernetes: false });
lightship.signalReady();
console.log(`listening port=${port} pid=${process.pid}`);
