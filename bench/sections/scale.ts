import type { Ctx } from '../lib/context';
import type { SectionResult } from '../lib/figures';
export async function runScale(_ctx: Ctx): Promise<SectionResult> {
  return { section: 'scale', figures: [], data: {}, notes: [] };
}
