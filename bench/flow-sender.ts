/**
 * Replaying sender for the flow benchmarks: sends a prepared stream of export
 * datagrams to 127.0.0.1:PORT at a set rate for a set time, in its own process
 * (so it does not share the receiver's event loop), and prints what it sent.
 *
 *   node dist/bench/flow-sender.js PORT DATAGRAMS_PER_SECOND SECONDS
 *
 * Only datagrams whose send completed are counted, and at most MAX_QUEUED wait
 * in node's queue: on a busy machine the sender falls behind its schedule and
 * says so (records / elapsed), rather than queueing sends it has not made yet.
 */
import dgram from 'node:dgram';
import { ipfixV4Stream } from './flow-datagrams.js';

const MAX_QUEUED = 1024;
const [port, rate, seconds] = process.argv.slice(2).map(Number) as [number, number, number];
const stream = ipfixV4Stream(4096);
const socket = dgram.createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
// Nobody listening yet (ICMP port unreachable): those sends count as failed, not as a crash.
socket.on('error', () => {
  failed += 1;
});
let queued = 0;
let done = 0;
let failed = 0;
let lastDone = 0;
const completed = (err: Error | null) => {
  queued -= 1;
  if (err) failed += 1;
  else done += 1;
  lastDone = performance.now();
};
socket.connect(port, '127.0.0.1', async () => {
  for (const t of stream.templates) socket.send(t);
  const start = performance.now();
  const end = start + seconds * 1000;
  let issued = 0;
  let i = 0;
  // Catch up to the schedule, then sleep ~1 ms: small bursts, and the sender leaves
  // the CPU to the receivers instead of spinning (it runs on the same 2 cores).
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (issued < due && queued < MAX_QUEUED) {
      queued += 1;
      socket.send(stream.data[i]!, completed);
      i = (i + 1) % stream.data.length;
      issued += 1;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  // Wait (bounded) for the sends still queued, then report.
  for (const deadline = performance.now() + 5000; queued > 0 && performance.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
  const elapsed = (Math.max(lastDone, end) - start) / 1000;
  process.stdout.write(
    JSON.stringify({ datagrams: done, records: done * stream.recordsPerDatagram, elapsed, failed, templates: stream.templates.length }) +
      '\n',
  );
  socket.close();
});
