#!/usr/bin/env node
// The vmtrace executable. Loading the commands takes a few hundred ms (more on a busy machine):
// the stop signals are caught first, so that a SIGTERM meanwhile still ends a recording cleanly.
import { catchEarlySignals } from './cli/signals.js';

catchEarlySignals();
await import('./cli/main.js');
