import fc from 'fast-check';

/**
 * Settings for fast-check properties. CI runs a fixed seed and a modest number of runs, so a
 * failure reproduces; `npm run fuzz` sets JOBGATE_FUZZ_RUNS (and no seed) for a long hunt.
 * A failing run prints its seed and path: set JOBGATE_FUZZ_SEED to replay it.
 */
export function propertyParameters<T>(runs = 300): fc.Parameters<T> {
  const longRuns = Number(process.env.JOBGATE_FUZZ_RUNS);
  const seed = process.env.JOBGATE_FUZZ_SEED;
  if (Number.isInteger(longRuns) && longRuns > 0) {
    return { numRuns: longRuns, ...(seed ? { seed: Number(seed) } : {}) };
  }
  return { numRuns: runs, seed: seed ? Number(seed) : 0x6a6f62 };
}

/** Asserts a property with the suite's parameters; throws with fast-check's report on failure. */
export function check<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>, runs?: number): Promise<void> | void {
  return fc.assert(property, propertyParameters<Ts>(runs));
}
