// Bridges the suite creates on the system OVS: always named ocnb<run tag><letter>, always
// deleted at the end whoever created them (the product deletes the ones it created with their
// last network; this is the safety net).
import { vsctlRun } from '../../test/harness/ovs';
import { onCleanup } from './cleanup';
import { RUN_TAG } from './plugins';

export function benchBridge(letter: string, scope: 'section' | 'run' = 'section'): string {
  const name = `ocnb${RUN_TAG}${letter}`;
  onCleanup(`bridge ${name}`, () => vsctlRun('--if-exists', 'del-br', name), scope);
  return name;
}
