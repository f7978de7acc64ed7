// Flame graph (SVG) of a V8 .cpuprofile, as written by `node --cpu-prof`: the call tree with each
// frame as wide as the time spent in it and below it, callers under callees. Idle time is left
// out, so the width is the busy time of the profiled thread. Open the SVG in a browser: every
// frame has a tooltip with its location, time and share.
import * as fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}
interface Frame {
  name: string;
  where: string;
  kind: 'project' | 'npm' | 'node' | 'native';
  totalUs: number;
  children: Frame[];
}

const WIDTH = 1200;
const ROW = 16;
const MIN_PX = 0.5; // narrower frames are dropped (with their subtree)
const COLORS: Record<Frame['kind'], [number, number, number]> = {
  project: [70, 130, 210], // the daemon's own code
  npm: [230, 150, 60], // dependencies
  node: [150, 150, 150], // node core
  native: [210, 80, 80], // V8/native: (program), (garbage collector), C++ bindings
};

function classify(url: string, repoRoot: string): { kind: Frame['kind']; where: string } {
  const u = url.replace(/^file:\/\//, '');
  const npm = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(u);
  if (npm) return { kind: 'npm', where: `${npm[1]}/${npm[2]}` };
  if (u.startsWith('node:')) return { kind: 'node', where: u };
  if (u) return { kind: 'project', where: u.replace(`${repoRoot}/`, '') };
  return { kind: 'native', where: '' };
}

function callTree(prof: CpuProfile, repoRoot: string): Frame {
  const selfUs = new Map<number, number>();
  prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const build = (node: ProfileNode): Frame => {
    const children = (node.children ?? [])
      .map((id) => byId.get(id))
      .filter((c): c is ProfileNode => !!c && c.callFrame.functionName !== '(idle)')
      .map(build)
      .filter((f) => f.totalUs > 0)
      .sort((a, b) => b.totalUs - a.totalUs);
    const { kind, where } = classify(node.callFrame.url, repoRoot);
    const line = node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : '';
    return {
      name: node.callFrame.functionName || '(anonymous)',
      where: where + line,
      kind,
      totalUs: (selfUs.get(node.id) ?? 0) + children.reduce((s, c) => s + c.totalUs, 0),
      children,
    };
  };
  const root = prof.nodes.find((n) => n.callFrame.functionName === '(root)') ?? prof.nodes[0];
  return build(root);
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A stable shade per function, so neighbours of one kind stay distinguishable. */
function color(f: Frame): string {
  let h = 0;
  for (const ch of f.name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const d = (h % 40) - 20;
  const [r, g, b] = COLORS[f.kind].map((c) => Math.max(0, Math.min(255, c + d)));
  return `rgb(${r},${g},${b})`;
}

export function flameGraphSvg(profileFile: string, title: string, repoRoot: string): string {
  const root = callTree(JSON.parse(fs.readFileSync(profileFile, 'utf8')) as CpuProfile, repoRoot);
  const total = root.totalUs || 1;
  const scale = WIDTH / total;
  const rects: { f: Frame; x: number; level: number; w: number }[] = [];
  let depth = 0;
  const place = (f: Frame, x: number, level: number): void => {
    const w = f.totalUs * scale;
    if (w < MIN_PX) return;
    depth = Math.max(depth, level);
    rects.push({ f, x, level, w });
    let cx = x;
    for (const c of f.children) {
      place(c, cx, level + 1);
      cx += c.totalUs * scale;
    }
  };
  place(root, 0, 0);
  const top = 40;
  const height = top + (depth + 1) * ROW + 30;
  const body = rects.map(({ f, x, level, w }) => {
    const ms = f.totalUs / 1000;
    const y = height - 30 - (level + 1) * ROW;
    const label = f.name === '(root)' ? `all busy time, ${ms.toFixed(0)} ms` : f.name;
    const chars = Math.floor((w - 4) / 6.5);
    const text = chars >= 3 ? (label.length > chars ? `${label.slice(0, chars - 1)}…` : label) : '';
    const tip = `${f.name}${f.where ? ` (${f.where})` : ''}: ${ms.toFixed(1)} ms, ${((100 * f.totalUs) / total).toFixed(1)} %`;
    return `<g><title>${escapeXml(tip)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${ROW - 1}" fill="${color(f)}" rx="1"/>`
      + (text ? `<text x="${(x + 3).toFixed(2)}" y="${y + ROW - 4}">${escapeXml(text)}</text>` : '') + '</g>';
  });
  const legend = (Object.keys(COLORS) as Frame['kind'][]).map((k, i) => {
    const [r, g, b] = COLORS[k];
    const label = { project: 'project src/', npm: 'npm packages', node: 'node core', native: 'V8 / native' }[k];
    return `<rect x="${10 + i * 150}" y="${height - 20}" width="12" height="12" fill="rgb(${r},${g},${b})"/><text x="${26 + i * 150}" y="${height - 10}">${label}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="monospace" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14">${escapeXml(title)}</text>`,
    `<text x="10" y="34" fill="#555">width = CPU time of the thread (idle left out); hover a frame for its location and share</text>`,
    ...body,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
