// The signals that ask vmtrace to stop (Ctrl-C, kill/CI timeouts, a terminal gone), shared by
// the CLI's clean-stop handling and the library's cleanup-on-stop (the snapshot index).

/** The signals that request a clean stop. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `before` on SIGINT/SIGTERM/SIGHUP, then lets the signal end the process as it would have
 * (128 + its number); returns the function that removes the handlers. JavaScript handlers run
 * between synchronous pieces of work, so the end may wait for the current one.
 */
export function beforeStopSignal(before: () => void): () => void {
  const handler = (name: NodeJS.Signals) => {
    remove();
    before();
    process.kill(process.pid, name);
  };
  const remove = () => {
    for (const name of STOP_SIGNALS) process.off(name, handler);
  };
  for (const name of STOP_SIGNALS) process.on(name, handler);
  return remove;
}
