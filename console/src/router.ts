/** The console's pages; each names the permission it needs, and a role without it is not offered the page. */
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { loadMe, may, session, whenExpired } from './api';
import AccountPage from './pages/AccountPage.vue';
import AdminPage from './pages/AdminPage.vue';
import AuditPage from './pages/AuditPage.vue';
import DisclosurePage from './pages/DisclosurePage.vue';
import LoginPage from './pages/LoginPage.vue';
import CasesPage from './pages/CasesPage.vue';
import M1Page from './pages/M1Page.vue';
import M2Page from './pages/M2Page.vue';
import M3Page from './pages/M3Page.vue';
import M4Page from './pages/M4Page.vue';
import M6Page from './pages/M6Page.vue';
import M7Page from './pages/M7Page.vue';
import NoticesPage from './pages/NoticesPage.vue';
import OverviewPage from './pages/OverviewPage.vue';

declare module 'vue-router' {
  interface RouteMeta {
    /** The page is offered when the role has any of these. */
    anyOf?: string[];
    /** The navigation label's message key. */
    nav?: string;
    /** A measure's page: offered while that measure runs. */
    measure?: string;
    public?: boolean;
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/console/login', name: 'login', component: LoginPage, meta: { public: true } },
  { path: '/', name: 'overview', component: OverviewPage, meta: { anyOf: ['measures:read'], nav: 'nav.overview' } },
  { path: '/console/m1', name: 'm1', component: M1Page, meta: { anyOf: ['cc:read'], nav: 'nav.m1', measure: 'cc-detection' } },
  { path: '/console/m2', name: 'm2', component: M2Page, meta: { anyOf: ['share:read'], nav: 'nav.m2', measure: 'cc-sharing' } },
  { path: '/console/m3', name: 'm3', component: M3Page, meta: { anyOf: ['blocklist:read'], nav: 'nav.m3', measure: 'cc-dns-blocking' } },
  {
    path: '/console/m4',
    name: 'm4',
    component: M4Page,
    meta: { anyOf: ['suspensions:read'], nav: 'nav.m4', measure: 'credential-misuse' },
  },
  { path: '/console/m6', name: 'm6', component: M6Page, meta: { anyOf: ['ddos:read'], nav: 'nav.m6', measure: 'ddos-dns-blocking' } },
  {
    path: '/console/m7',
    name: 'm7',
    component: M7Page,
    meta: { anyOf: ['reports:read'], nav: 'nav.m7', measure: 'infected-host-alert' },
  },
  { path: '/console/cases', name: 'cases', component: CasesPage, meta: { anyOf: ['cases:read'], nav: 'nav.cases' } },
  { path: '/console/notices', name: 'notices', component: NoticesPage, meta: { anyOf: ['cases:read'], nav: 'nav.notices' } },
  { path: '/console/audit', name: 'audit', component: AuditPage, meta: { anyOf: ['audit:read'], nav: 'nav.audit' } },
  { path: '/console/disclosure', name: 'disclosure', component: DisclosurePage, meta: { anyOf: ['policy:read'], nav: 'nav.disclosure' } },
  { path: '/console/admin', name: 'admin', component: AdminPage, meta: { anyOf: ['users:manage', 'tokens:manage'], nav: 'nav.admin' } },
  { path: '/console/account', name: 'account', component: AccountPage, meta: { anyOf: ['self'] } },
  { path: '/console/:rest(.*)*', redirect: '/' },
];

export function allowed(anyOf: string[] | undefined, measure?: string): boolean {
  return (!anyOf || anyOf.some((p) => may(p))) && (!measure || session.running.includes(measure));
}

export const router = createRouter({ history: createWebHistory(), routes });

router.beforeEach(async (to) => {
  if (to.meta.public) return true;
  if (!session.stored) return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} };
  if (!session.me) {
    try {
      await loadMe();
    } catch {
      return { name: 'login' };
    }
  }
  if (!session.me) return { name: 'login' };
  if (!allowed(to.meta.anyOf, to.meta.measure)) return to.name === 'overview' ? true : { name: 'overview' };
  return true;
});

whenExpired(() => {
  void router.replace({ name: 'login', query: { next: router.currentRoute.value.fullPath } });
});
