import type { Ctx } from '../lib/context';
import type { SectionResult } from '../lib/figures';
export async function runDatapath(_ctx: Ctx): Promise<SectionResult> {
  return { section: 'datapath', figures: [], data: {}, notes: [] };
}
