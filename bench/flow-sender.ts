/**
 * Replaying sender for the flow benchmarks: sends a prepared stream of export
 * datagrams to 127.0.0.1:PORT at a set rate for a set time, in its own process
 * (so it does not share the receiver's event loop), and prints what it sent.
 *
 *   node dist/bench/flow-sender.js PORT DATAGRAMS_PER_SECOND SECONDS
 */
import dgram from 'node:dgram';
import { ipfixV4Stream } from './flow-datagrams.js';

const [port, rate, seconds] = process.argv.slice(2).map(Number) as [number, number, number];
const stream = ipfixV4Stream(4096);
const socket = dgram.createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
socket.connect(port, '127.0.0.1', async () => {
  for (const t of stream.templates) socket.send(t);
  const start = performance.now();
  const end = start + seconds * 1000;
  let sent = 0;
  let i = 0;
  // Catch up to the schedule, then sleep ~1 ms: small bursts, and the sender leaves
  // the CPU to the receivers instead of spinning (it runs on the same 2 cores).
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (sent < due) {
      socket.send(stream.data[i]!);
      i = (i + 1) % stream.data.length;
      sent += 1;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  // Let the socket drain its queue before reporting.
  await new Promise((r) => setTimeout(r, 200));
  const elapsed = (performance.now() - start) / 1000;
  process.stdout.write(JSON.stringify({ datagrams: sent, records: sent * stream.recordsPerDatagram, elapsed, templates: stream.templates.length }) + '\n');
  socket.close();
});
