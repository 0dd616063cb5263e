/** The toy data of the worker tests and `npm run bench:fuzz` (plain TypeScript: runs in workerd and in Node). */

/** Three well-separated 4-d classes: a ≈ +x, b ≈ +y, c ≈ +z. */
export function toyData(): { x: number[][]; y: string[] } {
  const x: number[][] = [];
  const y: string[] = [];
  const centres: Record<string, number[]> = { a: [1, 0, 0, 0.1], b: [0, 1, 0, 0.1], c: [0, 0, 1, 0.1] };
  for (const [label, c] of Object.entries(centres)) {
    for (let i = 0; i < 6; i++) {
      x.push(c.map((v, j) => v + 0.05 * Math.sin(7 * i + 3 * j + label.charCodeAt(0))));
      y.push(label);
    }
  }
  return { x, y };
}
