/**
 * FreeRADIUS `detail` files: the accounting server's own record of every
 * Accounting-Request, one blank-line-separated block per packet:
 *
 *     Tue Nov 24 09:00:00 2026
 *         Acct-Status-Type = Start
 *         User-Name = "alice@isp"
 *         Framed-IP-Address = 100.64.0.10
 *         Event-Timestamp = "Nov 24 2026 09:00:00 UTC"
 *         Timestamp = 1795510800
 *
 * The tailer reads every file of a directory whose name starts with a prefix
 * (the detail module's rotation makes `detail-YYYYMMDD` files), in name order,
 * from where it stopped — a cursor per file (inode and offset) kept in the
 * state store — and only whole blocks, so a block being written is read next
 * time. A rotated file is a new name; a file replaced under the same name is a
 * new inode and is read from its start.
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Migration } from 'kysely';
import { type StateDb, type StateStore, tablesOf } from '../../store/state/store.js';
import type { SessionIndex } from '../../subscriber/sessions.js';
import { applyAccounting, type SessionEvent } from './apply.js';
import { STATUS, type Accounting } from './packet.js';
import { maskIpv6Prefix } from '../address.js';
import type { UntypedDb } from '../../store/state/untyped.js';

type CursorTables = { radius_detail_cursors: { file: string; inode: string; offset: number } };

export const detailMigrations: Record<string, Migration> = {
  '0051_radius_detail_cursors': {
    async up(db: UntypedDb) {
      await db.schema
        .createTable('radius_detail_cursors')
        .addColumn('file', 'text', (c) => c.primaryKey())
        .addColumn('inode', 'text', (c) => c.notNull())
        .addColumn('offset', 'integer', (c) => c.notNull())
        .execute();
    },
  },
};

const cdb = (d: StateDb) => tablesOf<CursorTables>(d);

const STATUS_NAMES: Record<string, number> = {
  Start: STATUS.START,
  Stop: STATUS.STOP,
  'Interim-Update': STATUS.INTERIM,
  Alive: STATUS.INTERIM,
  'Accounting-On': STATUS.ACCOUNTING_ON,
  'Accounting-Off': STATUS.ACCOUNTING_OFF,
};

/** One detail block as an accounting record; undefined for blocks that are not accounting. */
export function parseDetailBlock(block: string): (Omit<Accounting, 'identifier' | 'authenticator'> & { nas?: string }) | undefined {
  const attrs = new Map<string, string>();
  for (const line of block.split('\n').slice(1)) {
    const m = /^\s+([A-Za-z0-9-]+) = (.*)$/.exec(line);
    if (m) attrs.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  const status = STATUS_NAMES[attrs.get('Acct-Status-Type') ?? ''] ?? Number(attrs.get('Acct-Status-Type'));
  if (!Number.isInteger(status) || status === 0) return undefined;
  const epoch = (v: string | undefined) => {
    if (v === undefined) return undefined;
    if (/^\d+$/.test(v)) return Number(v);
    const t = Date.parse(v.replace(/ UTC$/, ' GMT'));
    return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
  };
  const delay = Number(attrs.get('Acct-Delay-Time') ?? 0) || 0;
  const written = epoch(attrs.get('Timestamp'));
  const event = epoch(attrs.get('Event-Timestamp')) ?? (written !== undefined ? written - delay : undefined);
  const get = (k: string) => attrs.get(k);
  const out: Omit<Accounting, 'identifier' | 'authenticator'> & { nas?: string } = { statusType: status };
  const set = <K extends keyof typeof out>(k: K, v: (typeof out)[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('userName', get('User-Name'));
  set('sessionId', get('Acct-Session-Id'));
  set('framedIp', get('Framed-IP-Address'));
  // As the UDP server reads them: host bits cleared; a prefix that cannot be read is left out (the record may be skipped, counted).
  const prefix = (k: string) => {
    const v = get(k);
    return v === undefined ? undefined : maskIpv6Prefix(v);
  };
  set('framedIpv6Prefix', prefix('Framed-IPv6-Prefix'));
  set('delegatedIpv6Prefix', prefix('Delegated-IPv6-Prefix'));
  set('eventTimestamp', event);
  set('nas', get('NAS-Identifier') ?? get('NAS-IP-Address') ?? get('NAS-IPv6-Address'));
  return out;
}

export interface DetailStatus {
  files: number;
  records: number;
  skipped: number;
}

const MAX_READ = 16 * 1024 * 1024;

export class DetailTailer {
  private readonly counts: DetailStatus = { files: 0, records: 0, skipped: 0 };

  constructor(
    private readonly opts: { directory: string; prefix: string; state: StateStore; index: SessionIndex; emit: (e: SessionEvent) => void },
  ) {}

  status(): DetailStatus {
    return { ...this.counts };
  }

  private polling: Promise<number> | undefined;

  /** Reads what is new in every detail file; returns the records applied. A poll already running is joined, not doubled. */
  poll(): Promise<number> {
    this.polling ??= this.readNew().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async readNew(): Promise<number> {
    let names: string[];
    try {
      names = readdirSync(this.opts.directory)
        .filter((n) => n.startsWith(this.opts.prefix))
        .sort();
    } catch {
      return 0;
    }
    let applied = 0;
    for (const name of names) {
      const path = join(this.opts.directory, name);
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      const inode = String(st.ino);
      const cursor = await cdb(this.opts.state.db)
        .selectFrom('radius_detail_cursors')
        .selectAll()
        .where('file', '=', name)
        .executeTakeFirst();
      let offset = cursor && cursor.inode === inode && cursor.offset <= st.size ? cursor.offset : 0;
      // Read up to the file's end, a bounded amount at a time, and keep only whole blocks.
      while (offset < st.size) {
        const length = Math.min(MAX_READ, st.size - offset);
        const buf = Buffer.alloc(length);
        const fd = openSync(path, 'r');
        try {
          readSync(fd, buf, 0, length, offset);
        } finally {
          closeSync(fd);
        }
        const text = buf.toString('utf8');
        const end = text.lastIndexOf('\n\n');
        if (end < 0) break; // a block still being written
        const consumed = Buffer.byteLength(text.slice(0, end + 2));
        for (const block of text.slice(0, end).split(/\n\n+/)) {
          if (!block.trim()) continue;
          const r = parseDetailBlock(block);
          if (
            r &&
            applyAccounting(
              this.opts.index,
              r,
              r.nas ?? 'detail',
              this.opts.emit,
              (r.eventTimestamp ?? Math.floor(Date.now() / 1000)) * 1000,
            )
          ) {
            this.counts.records++;
            applied++;
          } else this.counts.skipped++;
        }
        offset += consumed;
        await this.opts.state.writeTransaction((tx) =>
          cdb(tx)
            .insertInto('radius_detail_cursors')
            .values({ file: name, inode, offset })
            .onConflict((oc) => oc.column('file').doUpdateSet({ inode, offset }))
            .execute(),
        );
        if (length < MAX_READ) break;
      }
    }
    this.counts.files = names.length;
    return applied;
  }
}
