/**
 * HF `logger.warning_once`: print a warning on stderr the first time a given message is seen in this process.
 */
const seen = new Set<string>();

export function warning_once(message: string): void {
  if (seen.has(message)) return;
  seen.add(message);
  console.warn(message);
}
