/**
 * How many times the header `lowerName` appears in a raw header list. Node keeps only the first
 * of some duplicated headers (Host, Authorization), so a second one is only seen here.
 */
export function headerCount(rawHeaders: readonly string[], lowerName: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) count++;
  }
  return count;
}
