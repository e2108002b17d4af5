/**
 * A time left as the app says it, the same in the window and on the command line (the quantizer's
 * estimate, the CLI's progress lines, the Models page).
 */

/** "about 12 min" / "about 40 s" / "about 1.6 h" */
export function formatDuration(seconds: number): string {
  if (seconds < 90) return `about ${Math.max(5, Math.round(seconds / 5) * 5)} s`;
  if (seconds < 5400) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}
