// The hash slot calculation ioredis itself routes Cluster commands with (its own dependency, which
// ships no types): jobgate computes its prefix's slot with the same function, so they never disagree.
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot (0 to 16383) of a key: CRC16 of its {hash tag}, or of the whole key. */
  function calculateSlot(key: string | Buffer): number;
  export default calculateSlot;
}
