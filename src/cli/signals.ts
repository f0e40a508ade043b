// Stopping a recording cleanly on SIGINT (Ctrl-C), SIGTERM (kill, systemd, CI timeouts) and
// SIGHUP (the terminal went away): the first one asks the run loop to stop, the recorder writes
// the footer and moves the trace into place, and the process exits 128 + the signal's number
// (130, 143, 129), as a shell reports a process killed by it. A second one exits at once.
import { constants } from 'node:os';
import { STOP_SIGNALS } from '../stop-signals.js';

/** What the recorder polls (RecordOptions.signal): `name` says which signal asked. */
export interface StopFlag {
  stop: boolean;
  name?: NodeJS.Signals;
}

/** 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP. */
export function signalExitCode(name: NodeJS.Signals): number {
  return 128 + (constants.signals[name] ?? 2);
}

/** A stop signal that came before a command installed its handlers, and the catcher's handler. */
let early: { pending?: NodeJS.Signals; handler: (name: NodeJS.Signals) => void } | undefined;

/** Remembers a stop signal until handleStopSignals() takes over (or releaseEarlySignals() lets go). */
export function catchEarlySignals(): void {
  const state: NonNullable<typeof early> = {
    // A second one exits at once, as it does once a command's handlers are on.
    handler: (name) => {
      if (state.pending) process.exit(signalExitCode(name));
      state.pending = name;
    },
  };
  early = state;
  for (const name of STOP_SIGNALS) process.on(name, state.handler);
}

function removeEarlyHandlers(): NodeJS.Signals | undefined {
  if (!early) return undefined;
  for (const name of STOP_SIGNALS) process.off(name, early.handler);
  const { pending } = early;
  early = undefined;
  return pending;
}

/** For commands that do not stop cleanly: signals act the default way again (one already caught exits now). */
export function releaseEarlySignals(): void {
  const pending = removeEarlyHandlers();
  if (pending) process.exit(signalExitCode(pending));
}

/**
 * Installs the stop handlers (taking over a signal caught early, which then counts as the
 * first): the first signal sets `flag.stop` and `flag.name`; a second one
 * (any of them) calls `onSecond` (a last line for stderr) and exits at once with 128 + its
 * number. Returns the function that removes the handlers.
 */
export function handleStopSignals(flag: StopFlag, onSecond?: (name: NodeJS.Signals) => string | undefined): () => void {
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = () => {
      if (flag.stop) {
        const line = onSecond?.(name);
        if (line) process.stderr.write(`vmtrace: ${line}\n`);
        process.exit(signalExitCode(name));
      }
      flag.name = name;
      flag.stop = true;
    };
    process.on(name, handler);
    return { name, handler };
  });
  // Only now, with these on: a signal's last listener going away stops Node watching for it,
  // and one already caught by the OS but not yet handed to JavaScript would be lost.
  const pending = removeEarlyHandlers();
  if (pending && !flag.stop) {
    flag.name = pending;
    flag.stop = true;
  }
  return () => {
    for (const { name, handler } of handlers) process.off(name, handler);
  };
}

const stdoutClosedHooks = new Set<() => void>();

/**
 * While `flag` is registered, stdout going away (`vmtrace record … | head`: EPIPE) is a stop
 * request like a signal, named SIGPIPE (exit 141), rather than an exit on the spot: the trace
 * still gets its footer and is moved into place. Returns the function that unregisters it.
 */
export function stopOnStdoutClosed(flag: StopFlag): () => void {
  const hook = () => {
    if (flag.stop) return;
    flag.name = 'SIGPIPE';
    flag.stop = true;
  };
  stdoutClosedHooks.add(hook);
  return () => stdoutClosedHooks.delete(hook);
}

/** Called by the CLI when stdout fails (EPIPE): true when a recording takes it as a stop request. */
export function stdoutClosed(): boolean {
  for (const hook of stdoutClosedHooks) hook();
  return stdoutClosedHooks.size > 0;
}
