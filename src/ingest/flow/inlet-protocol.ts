/** Messages between the flow inlet (main thread) and its worker. */
import type { ExporterStatus } from './exporters.js';

export interface InletWorkerConfig {
  listeners: Array<{ host: string; port: number }>;
  recvBufferSize: number;
  /** Records per batch the worker serialises (small: the receiving thread never stalls long). */
  batchSize: number;
  /** Records per insert into the store (large: fewer parts for ClickHouse to merge). */
  insertRows: number;
  maxInflightBatches: number;
  flushMs: number;
  statusMs: number;
  allowedExporters: string[];
}

export interface InletStatus {
  exporters: ExporterStatus[];
  /** Datagrams refused before an exporter could be named (unknown exporter, table full). */
  unattributed: Record<string, number>;
  droppedRecords: number;
  storedRecords: number;
  /** Datagrams the kernel dropped because a socket buffer was full. */
  kernelDrops: number;
  inflight: number;
}

export type WorkerToMain =
  | { type: 'listening'; addresses: Array<{ host: string; port: number }>; recvBufferSize: number }
  | { type: 'batch'; bytes: ArrayBuffer; records: number }
  | ({ type: 'status' } & InletStatus)
  | { type: 'error'; message: string; fatal?: boolean }
  | { type: 'flushed' }
  | { type: 'stopped' };

export type MainToWorker = { type: 'ack'; batches: number; records: number } | { type: 'flush' } | { type: 'stop' };
