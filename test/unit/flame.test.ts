import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { flameGraphSvg } from '../../bench/report/flame';

test('flame graph: frames as wide as their time, idle left out, callers below callees', () => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('handle', 'file:///repo/node_modules/router/index.js'), children: [4, 5] },
      { id: 4, callFrame: frame('createEndpoint', 'file:///repo/dist/src/driver/network-driver.js') },
      { id: 5, callFrame: frame('writev', 'node:net') },
    ],
    // 10 ms idle, 2 ms in handle itself, 6 ms in createEndpoint, 2 ms in writev
    samples: [2, 3, 4, 4, 4, 5],
    timeDeltas: [10_000, 2_000, 2_000, 2_000, 2_000, 2_000],
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-flame-')), 'p.cpuprofile');
  fs.writeFileSync(file, JSON.stringify(profile));
  const svg = flameGraphSvg(file, 'test', '/repo');
  assert.doesNotMatch(svg, /\(idle\)/);
  const width = (name: string) => Number(new RegExp(`<title>${name}[^<]*</title><rect x="[\\d.]+" y="\\d+" width="([\\d.]+)"`).exec(svg)?.[1]);
  assert.equal(width('\\(root\\)'), 1200, 'the root spans the busy time');
  assert.equal(width('handle'), 1200);
  assert.equal(width('createEndpoint'), 720, '6 of 10 busy ms');
  assert.equal(width('writev'), 240);
  assert.match(svg, /<title>createEndpoint \(dist\/src\/driver\/network-driver\.js:1\): 6\.0 ms, 60\.0 %<\/title>/);
  const y = (name: string) => Number(new RegExp(`<title>${name}[^<]*</title><rect x="[\\d.]+" y="(\\d+)"`).exec(svg)?.[1]);
  assert.ok(y('createEndpoint') < y('handle'), 'callee drawn above its caller');
  fs.rmSync(path.dirname(file), { recursive: true });
});
