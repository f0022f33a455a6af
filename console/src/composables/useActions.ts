/**
 * What every page does around its calls, in one place: a load clears the last error and takes a 404 as "the measure
 * is not running" (its routes are not served); an action clears both status lines, marks the page busy, and ends with
 * what it did (the text it returns) or why it failed. PageStatus.vue shows the three.
 */
import { ref } from 'vue';
import { useI18n } from 'vue-i18n';
import { ApiError } from '../api';

export function useActions() {
  const { t } = useI18n();
  const error = ref('');
  const done = ref('');
  const missing = ref(false);
  const busy = ref(false);
  const failed = (err: unknown) => t('common.failed', { message: err instanceof Error ? err.message : String(err) });

  /**
   * Reads what the page shows; a failure is shown, not thrown. A page that refreshes itself keeps the last
   * action's error on screen (keepError) rather than wiping it at the next refresh.
   */
  async function load(what: () => Promise<void>, keepError = false): Promise<void> {
    if (!keepError) error.value = '';
    try {
      await what();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) missing.value = true;
      else error.value = failed(err);
    }
  }

  /** Does something on the server; the text it returns is shown as done. True when it went through. */
  async function act(what: () => Promise<string | void>): Promise<boolean> {
    error.value = '';
    done.value = '';
    busy.value = true;
    try {
      const said = await what();
      if (typeof said === 'string') done.value = said;
      return true;
    } catch (err) {
      error.value = failed(err);
      return false;
    } finally {
      busy.value = false;
    }
  }

  return { error, done, missing, busy, failed, load, act };
}
