/**
 * What an accounting record means for the IP-assignment index, whichever way
 * it came (the UDP server or a FreeRADIUS detail file): Start opens a session
 * per assigned address or prefix, Interim-Update keeps it alive (or opens it
 * when its Start was missed), Stop ends it, Accounting-On/Off ends every
 * session of that NAS. Each change is also emitted, to be stored.
 */
import type { SessionIndex } from '../../subscriber/sessions.js';
import { STATUS, type Accounting } from './packet.js';

export type SessionEvent =
  | { kind: 'begin'; key: string; subscriber: string; address: string; at: number }
  | { kind: 'touch' | 'finish'; key: string; at: number }
  | { kind: 'finish-all'; nas: string; at: number };

/** False when the record cannot be applied (a Start with no user, session or address). */
export function applyAccounting(
  index: SessionIndex,
  a: Omit<Accounting, 'identifier' | 'authenticator'>,
  nas: string,
  emit: (e: SessionEvent) => void,
  now = Date.now(),
): boolean {
  const at = a.eventTimestamp ?? Math.floor(now / 1000) - (a.delayTime ?? 0);
  const key = `${nas}|${a.sessionId ?? ''}`;
  switch (a.statusType) {
    case STATUS.ACCOUNTING_ON:
    case STATUS.ACCOUNTING_OFF:
      // The NAS restarted: every session it had is over.
      index.finishAll(`${nas}|`, at);
      emit({ kind: 'finish-all', nas, at });
      return true;
    case STATUS.STOP:
      if (index.finish(key, at)) emit({ kind: 'finish', key, at });
      // Stops of extra addresses of the same session.
      for (let i = 1; i < 3; i++) if (index.finish(`${key}#${i}`, at)) emit({ kind: 'finish', key: `${key}#${i}`, at });
      return true;
    case STATUS.START:
    case STATUS.INTERIM: {
      if (a.statusType === STATUS.INTERIM && index.touch(key, at)) {
        emit({ kind: 'touch', key, at });
        return true;
      }
      const addresses = [a.framedIp, a.framedIpv6Prefix, a.delegatedIpv6Prefix].filter((x): x is string => x !== undefined);
      if (!a.userName || !a.sessionId || addresses.length === 0) return false;
      addresses.forEach((address, i) => {
        const k = i === 0 ? key : `${key}#${i}`;
        if (index.begin({ key: k, subscriber: a.userName!, address, start: at }))
          emit({ kind: 'begin', key: k, subscriber: a.userName!, address, at });
      });
      return true;
    }
    default:
      return false;
  }
}
