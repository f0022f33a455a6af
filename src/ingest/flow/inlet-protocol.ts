/** Messages between the flow inlet (main thread) and its worker. */
import type { ExporterStatus } from './exporters.js';

export interface InletWorkerConfig {
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
  /** Bounds the records waiting for storage at maxInflightBatches × batchSize. */
  maxInflightBatches: number;
  /** The analytics store's staging directory, where the worker writes RowBinary files. */
  stagingDirectory: string;
  flushMs: number;
  statusMs: number;
  allowedExporters: string[];
}

/** What the inlet is configured with; the store adds its staging directory. */
export type InletSettings = Omit<InletWorkerConfig, 'stagingDirectory'>;

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
  /** Records written to staging files and not yet stored. */
  inflight: number;
}

export type WorkerToMain =
  | { type: 'listening'; addresses: Array<{ host: string; port: number }>; recvBufferSize: number; receiver: 'native' | 'dgram'; receiverNote?: string }
  | { type: 'staged'; file: string; records: number }
  | ({ type: 'status' } & InletStatus)
  | { type: 'error'; message: string; fatal?: boolean }
  | { type: 'flushed' }
  | { type: 'stopped' };

export type MainToWorker = { type: 'ack'; records: number; stored: boolean } | { type: 'flush' } | { type: 'stop' };
