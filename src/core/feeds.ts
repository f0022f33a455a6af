/**
 * The shapes of what one measure publishes for others through the broker
 * (ACTION_CAPABILITIES `candidate-feed`, `indicator-feed`). They live in the
 * core, not in the publishing measure's folder, so that a measure using a feed
 * imports no other measure (the dependency rule in .dependency-cruiser.cjs).
 */

/** What M1 publishes: the endpoint, its dates, status and score — no evidence, no features. */
export interface PublishedCandidate {
  id: string;
  address: string;
  port: number;
  proto: number;
  status: 'new' | 'confirmed' | 'expired' | 'withdrawn';
  score: number;
  firstDetected: string;
  lastDetected: string;
  statusChangedAt: string;
}

/** The `candidate-feed` capability. */
export interface CandidateFeed {
  list(): Promise<PublishedCandidate[]>;
}
