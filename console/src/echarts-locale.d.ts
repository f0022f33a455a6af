// ECharts ships its locales as plain objects without type declarations: the Japanese one has the shape of
// the locale ECharts registers.
declare module 'echarts/lib/i18n/langJA.js' {
  const locale: Parameters<typeof import('echarts/core').registerLocale>[1];
  export default locale;
}
