/** Errors of sharing with partners, apart from the sharer so that a measure may name them without importing network code. */
import { MamoriError } from '../core/errors.js';

/** A partner did not answer, or answered something unusable. */
export class PartnerError extends MamoriError {
  static override readonly code = 'share-partner';
  static override readonly status = 502;
}
