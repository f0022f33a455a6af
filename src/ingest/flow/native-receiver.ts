/**
 * The native flow receiver (native/flow-receiver/receiver.cc): one OS thread
 * per socket receives datagrams with recvmmsg into a fixed ring, and the inlet
 * worker takes them out in batches. Built by node-gyp at install time; where
 * it cannot load (not Linux, no compiler), the inlet says so and receives with
 * node:dgram instead.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeReceiverStats {
  received: number;
  /** Datagrams dropped because the ring was full (decoding fell behind by more than the ring holds). */
  ringDrops: number;
  /** Datagrams longer than 64 KiB (cannot happen with UDP over IPv4/IPv6 without jumbograms). */
  truncated: number;
  errors: number;
  ringUsed: number;
}

export interface NativeFlowReceiver {
  readonly host: string;
  readonly port: number;
  readonly recvBufferSize: number;
  readonly ringBytes: number;
  /** Copies whole records into target (see RECORD_HEADER_BYTES); returns the bytes copied. */
  read(target: Buffer): number;
  /** Asks for onReadable on the next datagram; true means data is already there (read now instead). */
  arm(): boolean;
  stats(): NativeReceiverStats;
  close(): void;
}

type Constructor = new (
  host: string,
  port: number,
  recvBufferSize: number,
  ringBytes: number,
  onReadable: () => void,
) => NativeFlowReceiver;

/** u16 length, u8 family, u8 0, f64 time received (ms), 16 bytes of sender address; then the payload padded to 4. */
export const RECORD_HEADER_BYTES = 28;
/** read() needs room for at least one largest datagram. */
export const MIN_READ_BYTES = RECORD_HEADER_BYTES + 65536;

let loaded: Constructor | Error | undefined;

/** The receiver class, or why it is not available here. */
export function nativeReceiver(): Constructor | Error {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = new Error(`the native receiver uses recvmmsg (Linux); this is ${process.platform}`));
  // From dist/src/ingest/flow/ (or src/ingest/flow/) up to the package root, where node-gyp builds.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  const file = join(dir, 'build', 'Release', 'flow_receiver.node');
  try {
    loaded = (createRequire(import.meta.url)(file) as { FlowReceiver: Constructor }).FlowReceiver;
  } catch (err) {
    loaded = new Error(`native receiver not built (${file}): ${(err as Error).message.split('\n')[0]}; run npm install`);
  }
  return loaded;
}
