/** The console's pages; each names the permission it needs, and a role without it is not offered the page. */
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { loadMe, may, session, whenExpired } from './api';
import AdminPage from './pages/AdminPage.vue';
import AuditPage from './pages/AuditPage.vue';
import DisclosurePage from './pages/DisclosurePage.vue';
import LoginPage from './pages/LoginPage.vue';
import M7Page from './pages/M7Page.vue';
import OverviewPage from './pages/OverviewPage.vue';

declare module 'vue-router' {
  interface RouteMeta {
    /** The page is offered when the role has any of these. */
    anyOf?: string[];
    /** The navigation label's message key. */
    nav?: string;
    public?: boolean;
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/console/login', name: 'login', component: LoginPage, meta: { public: true } },
  { path: '/', name: 'overview', component: OverviewPage, meta: { anyOf: ['measures:read'], nav: 'nav.overview' } },
  { path: '/console/audit', name: 'audit', component: AuditPage, meta: { anyOf: ['audit:read'], nav: 'nav.audit' } },
  { path: '/console/disclosure', name: 'disclosure', component: DisclosurePage, meta: { anyOf: ['policy:read'], nav: 'nav.disclosure' } },
  { path: '/console/m7', name: 'm7', component: M7Page, meta: { anyOf: ['reports:read'], nav: 'nav.m7' } },
  { path: '/console/admin', name: 'admin', component: AdminPage, meta: { anyOf: ['users:manage', 'tokens:manage'], nav: 'nav.admin' } },
  { path: '/console/:rest(.*)*', redirect: '/' },
];

export function allowed(anyOf: string[] | undefined): boolean {
  return !anyOf || anyOf.some((p) => may(p));
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
  if (!allowed(to.meta.anyOf)) return to.name === 'overview' ? true : { name: 'overview' };
  return true;
});

whenExpired(() => {
  void router.replace({ name: 'login', query: { next: router.currentRoute.value.fullPath } });
});
