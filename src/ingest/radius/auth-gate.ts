/**
 * The AAA's authorize and post-auth calls (FreeRADIUS rlm_rest), owned by the core: the authentication
 * events they carry go to the measures that declare account IDs (the `auth-feed` input), and an ID that
 * a measure suspended is rejected (the `auth-suspender` action, for measures that declare the output
 * "auth-suspensions"). The routes are src/api/routes/aaa.ts.
 */
import type { MeasureDeclaration } from '../../core/measure.js';

export interface AuthEvent {
  account: string;
  at: number;
  nas: string;
  station?: string | undefined;
  result: 'request' | 'accept' | 'reject';
}

/** The `auth-feed` capability. */
export interface AuthFeed {
  subscribe(listener: (e: AuthEvent) => void): () => void;
}

/** Why an ID is refused, in the words the AAA passes on (Reply-Message). */
export interface Suspended {
  message: string;
}

/** The `auth-suspender` capability: the measure answers, for each authorize call, whether the ID is suspended. */
export interface AuthSuspender {
  answer(check: (account: string) => Promise<Suspended | undefined>): () => void;
}

export class AuthGate {
  private readonly listeners = new Set<(e: AuthEvent) => void>();
  private readonly checks = new Map<string, (account: string) => Promise<Suspended | undefined>>();

  feed(): AuthFeed {
    return {
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => {
          this.listeners.delete(listener);
        };
      },
    };
  }

  /** One check per measure: a measure that answers again replaces its earlier answer. */
  suspenderFor(measure: MeasureDeclaration): AuthSuspender {
    return {
      answer: (check) => {
        this.checks.set(measure.id, check);
        return () => {
          if (this.checks.get(measure.id) === check) this.checks.delete(measure.id);
        };
      },
    };
  }

  emit(e: AuthEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** The first suspension any measure reports for the ID, or nothing (the AAA goes on). */
  async authorize(account: string): Promise<Suspended | undefined> {
    for (const check of this.checks.values()) {
      const s = await check(account);
      if (s) return s;
    }
    return undefined;
  }
}
