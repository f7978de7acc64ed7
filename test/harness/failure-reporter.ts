// A node:test reporter that writes only the failures, each as its name, file and the first lines
// of its error, for the end of a long run: CI shows the tail of the output, where the spec
// reporter's summary puts the LAST failure, often a consequence of the first one.
// Used by scripts/test.sh as a second reporter: --test-reporter=<this file>.
import { describeFailure, Event, FailEvent } from './failure-format';

async function* failureReporter(source: AsyncIterable<Event>): AsyncGenerator<string> {
  for await (const ev of source) {
    if (ev.type !== 'test:fail') continue;
    const text = describeFailure(ev as FailEvent);
    if (text) yield text;
  }
}

// node:test loads a reporter as the module's default export: module.exports in CommonJS.
export = failureReporter;
