import type { Ctx } from '../lib/context';
import type { SectionResult } from '../lib/figures';
export async function runDocker(_ctx: Ctx): Promise<SectionResult> {
  return { section: 'docker', figures: [], data: {}, notes: [] };
}
