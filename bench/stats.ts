// Small statistics helpers for the benchmarks.
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function summarize(samplesNs: number[]): { n: number; medianUs: number; p99Us: number; meanUs: number } {
  const s = [...samplesNs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length);
  return { n: s.length, medianUs: percentile(s, 50) / 1000, p99Us: percentile(s, 99) / 1000, meanUs: mean / 1000 };
}

export function timeNs(f: () => void): number {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t);
}

export function rssMb(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}

/** Deterministic pseudo-random numbers so runs are comparable. */
export { mulberry32 as rng } from "../harness/runner/random.js";

export function line(name: string, figures: Record<string, string | number>): void {
  console.log(`${name.padEnd(46)} ${Object.entries(figures).map(([k, v]) => `${k}=${typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(2)) : v}`).join("  ")}`);
}
