// The validation library the protocol is declared with: zod's tree-shakable "mini" build. Its
// schemas carry no per-instance methods (the classic build attaches dozens of closures to every
// schema object), which keeps ≈ 2 MB off the idle daemon (docs/benchmarks.md, "Daemon RSS").
// Mini installs no locale of its own; English keeps the messages of the classic build
// ("Invalid input: expected string, received number").
import { z } from 'zod/mini';

z.config(z.locales.en());

export { z };
