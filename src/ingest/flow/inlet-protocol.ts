/** Messages between the flow inlet (main thread) and its worker. */
import type { ExporterStatus } from './exporters.js';

/** The decoding thread's nice value: after the receiving threads (0), before loading (10). */
export const DECODER_NICE = 5;

/** What the inlet is configured with. */
export interface InletSettings {
  listeners: Array<{ host: string; port: number }>;
  recvBufferSize: number;
  /** "auto" (default): the native receiver where it loads, else node:dgram. */
  receiver?: 'auto' | 'native' | 'dgram';
  /** The native receiver's ring per socket (default 64 MiB). */
  receiveRingBytes?: number;
  /** Records per batch the worker serialises (small: the receiving thread never stalls long). */
  batchSize: number;
  /** Records per insert into the store (large: fewer parts for ClickHouse to merge). */
  insertRows: number;
  /** Bounds the spool: bytes of RowBinary written and not yet stored (beyond it, batches are dropped and counted). */
  spoolMaxBytes: number;
  flushMs: number;
  statusMs: number;
  allowedExporters: string[];
}

/** What the worker gets besides the settings: where to spool and what an earlier run left there. */
export interface InletWorkerConfig extends InletSettings {
  /** The analytics store's spool directory, where the worker writes RowBinary segments. */
  spoolDirectory: string;
  /** Bytes already in the spool at start (segments an earlier run left; the main thread loads them first). */
  spooledBytes: number;
  /** Names this run's segments, so that they sort after an earlier run's. */
  runId: string;
}

export interface InletStatus {
  exporters: ExporterStatus[];
  /** Datagrams refused before an exporter could be named (unknown exporter, table full). */
  unattributed: Record<string, number>;
  /** Records dropped in the worker: storage behind (storage-backlog) or staging failed. */
  droppedRecords: number;
  storedRecords: number;
  /** Datagrams the kernel dropped because a socket buffer was full. */
  kernelDrops: number;
  /** Datagrams the native receiver dropped because its ring was full (decoding fell that far behind). */
  ringDrops: number;
  /** Records written to the spool and not yet stored. */
  inflight: number;
  /** Bytes of those records in the spool (bounded by spoolMaxBytes). */
  spooledBytes: number;
}

export type WorkerToMain =
  | {
      type: 'listening';
      addresses: Array<{ host: string; port: number }>;
      recvBufferSize: number;
      receiver: 'native' | 'dgram';
      receiverNote?: string;
    }
  | { type: 'staged'; file: string; records: number; bytes: number }
  | ({ type: 'status' } & InletStatus)
  | { type: 'error'; message: string; fatal?: boolean }
  | { type: 'flushed' }
  | { type: 'stopped' };

export type MainToWorker = { type: 'ack'; records: number; bytes: number; stored: boolean } | { type: 'flush' } | { type: 'stop' };
