/** Every measure of DESIGN.md §2, in the order of their codes. */
import type { MeasureModule } from '../core/registry.js';
import { measure as ccDetection } from './cc-detection/index.js';
import { measure as ccSharing } from './cc-sharing/index.js';
import { measure as ccDnsBlocking } from './cc-dns-blocking/index.js';
import { measure as credentialMisuse } from './credential-misuse/index.js';
import { measure as routerSurvey } from './router-survey/index.js';
import { measure as ddosDnsBlocking } from './ddos-dns-blocking/index.js';
import { measure as infectedHostAlert } from './infected-host-alert/index.js';
import { measure as emergencyBlocking } from './emergency-blocking/index.js';

export const ALL_MEASURES: readonly MeasureModule[] = [
  ccDetection,
  ccSharing,
  ccDnsBlocking,
  credentialMisuse,
  routerSurvey,
  ddosDnsBlocking,
  infectedHostAlert,
  emergencyBlocking,
];
