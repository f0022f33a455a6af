/**
 * A dnstap writer for the benchmark, in its own process: connects to a unix
 * socket, does the Frame Streams handshake (READY → ACCEPT, START), writes N
 * prepared frames as fast as the reader takes them, then STOP, and waits for
 * FINISH. Prints what it sent and how long the reader took.
 *
 *   node dist/bench/dnstap-writer.js SOCKET FRAMES
 */
import net from 'node:net';
import { CONTROL, controlFrame, dataFrame, DNSTAP_CONTENT_TYPE } from '../src/ingest/dnstap/frame-stream.js';
import { dnstapFrame } from '../test/support/dnstap.js';

const [path, count] = [process.argv[2]!, Number(process.argv[3] ?? 1_000_000)];
// A realistic mix: popular names, their subdomains, random labels under a victim, queries and responses — dated now
// (the receiver drops events dated far from their arrival).
const pool: Buffer[] = [];
for (let i = 0; i < 4096; i++) {
  const qname = i % 4 === 0 ? `${Math.random().toString(36).slice(2, 12)}.victim.example` : `www${i % 50}.site${i % 300}.example.jp`;
  pool.push(
    dataFrame(
      dnstapFrame({
        type: i % 2 === 0 ? 5 : 6,
        client: `10.${i % 200}.${i % 250}.${i % 253}`,
        qname,
        qtype: i % 7 === 0 ? 28 : 1,
        rcode: i % 4 === 0 ? 3 : 0,
        identity: 'bench',
        timeSec: Math.floor(Date.now() / 1000),
      }),
    ),
  );
}
const chunk = Buffer.concat(Array.from({ length: 256 }, (_, i) => pool[i % pool.length]!));
const framesPerChunk = 256;

const socket = net.connect(path);
let phase: 'accept' | 'finish' = 'accept';
let received = Buffer.alloc(0);
let started = 0;
socket.on('connect', () => socket.write(controlFrame(CONTROL.READY, [DNSTAP_CONTENT_TYPE])));
socket.on('data', (d: Buffer) => {
  received = Buffer.concat([received, d]);
  if (phase === 'accept' && received.length >= 12) {
    received = Buffer.alloc(0);
    phase = 'finish';
    socket.write(controlFrame(CONTROL.START, [DNSTAP_CONTENT_TYPE]));
    started = performance.now();
    let sent = 0;
    const pump = () => {
      while (sent < count) {
        sent += framesPerChunk;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.write(controlFrame(CONTROL.STOP));
    };
    pump();
  } else if (phase === 'finish' && received.length >= 12) {
    const seconds = (performance.now() - started) / 1000;
    const frames = Math.ceil(count / framesPerChunk) * framesPerChunk;
    process.stdout.write(JSON.stringify({ frames, seconds, bytes: frames * (chunk.length / framesPerChunk) }) + '\n');
    socket.end();
  }
});
socket.on('error', (e) => {
  process.stderr.write(`writer: ${e.message}\n`);
  process.exit(1);
});
