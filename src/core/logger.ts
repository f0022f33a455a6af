/**
 * Application logs (pino, JSON). They carry events, counts and ids — never an
 * address, port, FQDN or account ID from a measure's data: those go only to
 * the audit log, and only as references. HTTP request logs name the route
 * pattern, not the URL, and leave out the client address.
 */
import { pino, type Logger } from 'pino';
import { maskSecretData } from './secret-guard.js';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { app: 'mamori' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Belt and braces: fields that could hold secret data are dropped if a caller ever passes them.
      redact: {
        paths: ['addr', 'address', 'ip', 'qname', 'fqdn', 'account', 'username_attempted', 'req.remoteAddress', 'req.url', 'req.headers'],
        remove: true,
      },
      // Error messages and log messages are free text that may quote a peer or a library: mask what looks like an address or a name.
      serializers: {
        err: (e: { type?: string; message?: string; stack?: string }) =>
          e && typeof e === 'object' ? { type: e.type, message: typeof e.message === 'string' ? maskSecretData(e.message) : e.message } : e,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? maskSecretData(a) : a)) as Parameters<typeof method>);
        },
      },
    },
    destination as pino.DestinationStream | undefined,
  );
}
