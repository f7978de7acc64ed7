export function writeDocs(_report: unknown, _rel: string): string[] {
  return [];
}
