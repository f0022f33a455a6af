/**
 * Durations as operators write them in YAML and declarations: "90s", "15m",
 * "24h", "14d". One parser so that retention, intervals and limits agree.
 */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
export const DURATION_PATTERN = /^([1-9][0-9]{0,6})(s|m|h|d)$/;

export function parseDuration(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) {
    throw new RangeError(`"${text}" is not a duration: write a positive whole number followed by s, m, h or d (e.g. "24h", "14d")`);
  }
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}

export function formatDuration(seconds: number, lang: 'ja' | 'en'): string {
  const units: Array<[number, string, string]> = [
    [86400, '日', ' days'],
    [3600, '時間', ' hours'],
    [60, '分', ' minutes'],
    [1, '秒', ' seconds'],
  ];
  for (const [size, ja, en] of units) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return lang === 'ja' ? `${n}${ja}` : `${n}${n === 1 ? en.replace(/s$/, '') : en}`;
    }
  }
  return lang === 'ja' ? `${seconds}秒` : `${seconds} seconds`;
}
