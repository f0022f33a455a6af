/**
 * M8 — emergency blocking of mass attack traffic (guideline §5).
 * Self-defence / emergency: only the matching traffic, only while the attack lasts.
 */
import { defineMeasure } from '../../core/measure.js';
import type { MeasureModule } from '../../core/registry.js';

export const declaration = defineMeasure({
  id: 'emergency-blocking',
  code: 'M8',
  title: { ja: '大量通信による攻撃の緊急遮断', en: 'Emergency blocking of mass attack traffic' },
  purpose: {
    ja: '電気通信設備に被害を与えている攻撃通信を一時的に遮断し、役務の提供を守るため',
    en: 'to block, temporarily, attack traffic that is harming our facilities and so keep the service running',
  },
  description: {
    ja: '当社設備に被害を及ぼす攻撃が現に発生している間に限り、攻撃に該当する通信のみを、そのヘッダ情報に基づいて一時的に遮断します。',
    en:
      'Only while an attack that harms our facilities is under way, only the matching traffic is ' +
      'blocked, temporarily, on the basis of its header fields.',
  },
  bases: [
    {
      basis: 'emergency',
      scope: { ja: '設備に被害を及ぼす現在の攻撃への対処', en: 'responding to an ongoing attack harming our facilities' },
    },
  ],
  dataItems: [
    {
      item: 'attack.headers',
      retention: '7d',
      use: { ja: '遮断条件の作成と事後の検証', en: 'building the block rule and reviewing it afterwards' },
    },
  ],
  outputs: ['traffic-blocks'],
  identifiesSubscribers: false,
  maxActionDuration: '24h',
  conditions: [
    { ja: '攻撃に該当する通信のみを遮断する', en: 'only matching traffic is blocked' },
    { ja: '攻撃が続く間に限り一時的に遮断する', en: 'blocking is temporary and lasts only while the attack does' },
  ],
  source: { ja: 'ガイドライン 第5章', en: 'Industry guideline, ch. 5' },
});

/** Emergency rules have not landed yet: declared, "not available". */
export const measure: MeasureModule = { declaration };
