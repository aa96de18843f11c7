/**
 * Decides whether a test that needs a real component (loop devices, protoc, systemd's socket
 * activator) runs. Missing on a developer machine: the test is skipped with the reason printed.
 * Missing in CI (`CI` set): the suite fails, because tools/setup.sh must have installed it.
 */
export function componentAvailable(available: boolean, what: string, reason: string): boolean {
  if (available) return true;
  if (process.env['CI']) {
    throw new Error(`${what} is required in CI but unavailable: ${reason}. tools/setup.sh must provide it.`);
  }
  console.warn(`skipping ${what} tests: ${reason}`);
  return false;
}
