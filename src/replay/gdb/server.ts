// The TCP side of the gdb stub: one gdb connection at a time, acknowledgements and their
// retransmission, Ctrl-C while the replay runs, and the server's life: it keeps listening after
// gdb detaches or disconnects (the replay stays where it is, so a reconnect goes on from there)
// until gdb kills it, SIGINT/SIGTERM, or, with `once`, the end of the first connection.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

import { signalExitCode } from '../../cli/signals.js';
import type { DebugTarget } from '../debug-target.js';
import { frame, PacketReader } from './packets.js';
import { GdbStub, type After, type StubIo } from './stub.js';

export interface GdbServerOptions {
  host: string;
  /** 0: any free port (the listening line says which). */
  port: number;
  /** The trace file, for reports. */
  trace: string;
  /** End after the first connection ends. */
  once: boolean;
  /** Tool messages (stderr), one line each, without the `vmtrace: ` prefix. */
  log: (line: string) => void;
  /** How the server came to listen, for the listening line (`trace sieve-32.vmtrace, 32-bit protected mode`). */
  describe: string;
}

/** Why the server ended, and the exit code for it (docs/cli.md). */
export interface GdbServerEnd {
  reason: 'killed' | 'connection-ended' | 'signal';
  exitCode: number;
}

export class ListenError extends Error {
  override name = 'ListenError';
}

/** `127.0.0.1:1234`, `[::1]:1234`. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** How long a second connection waits for the served one to end before it is refused. */
const RECONNECT_GRACE_MS = 1000;

const peerOf = (socket: Socket) => hostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);

class Connection implements StubIo {
  private readonly reader = new PacketReader();
  private acks = true;
  private lastSent: Buffer | undefined;
  private interruptRequested = false;
  private ended = false;
  private readonly stub: GdbStub;

  constructor(
    private readonly socket: Socket,
    target: DebugTarget,
    trace: string,
    reconnect: string,
    /** Runs jobs one at a time, in order, across connections (some answers wait for the replay). */
    private readonly enqueue: (job: () => Promise<void>) => void,
    private readonly onEnd: (after: After) => void,
  ) {
    this.stub = new GdbStub(target, this, { trace, reconnect });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('close', () => this.end('detach'));
    socket.on('error', () => this.end('detach'));
  }

  private receive(chunk: Buffer): void {
    for (const ev of this.reader.push(chunk)) {
      switch (ev.kind) {
        case 'interrupt':
          this.interruptRequested = true;
          break;
        case 'nack':
          if (this.lastSent) this.write(this.lastSent);
          break;
        case 'ack':
          break;
        case 'corrupt':
          if (this.acks) this.write(Buffer.from('-'));
          break;
        case 'packet':
          if (this.acks) this.write(Buffer.from('+'));
          this.enqueue(async () => {
            if (this.ended) return;
            const after = await this.stub.handle(ev.payload);
            if (after !== 'serve') this.close(after);
          });
          break;
      }
    }
  }

  private write(bytes: Buffer): void {
    if (!this.ended) this.socket.write(bytes);
  }

  send(payload: string | Uint8Array): void {
    this.lastSent = frame(payload);
    this.write(this.lastSent);
  }

  noAck(): void {
    this.acks = false;
  }

  interrupted(): boolean {
    return this.interruptRequested;
  }

  clearInterrupt(): void {
    this.interruptRequested = false;
  }

  /** Ends the connection after what was written has gone out. */
  close(after: After): void {
    this.socket.end();
    this.end(after);
  }

  private end(after: After): void {
    if (this.ended) return;
    this.ended = true;
    this.interruptRequested = true; // a replay still running for this gdb stops
    this.onEnd(after);
  }
}

/**
 * Serves `target` to gdb until the server ends; resolves with how it ended. Throws ListenError
 * when it cannot listen (address in use, no such address).
 */
export async function serveGdb(target: DebugTarget, opts: GdbServerOptions): Promise<GdbServerEnd> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new ListenError(`cannot listen on ${hostPort(opts.host, opts.port)} for gdb: ${e.code ?? e.message}${e.code === 'EADDRINUSE' ? ' (the port is in use: choose another, or 0 for any free one)' : ''}`)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const where = hostPort(opts.host, (server.address() as AddressInfo).port);

  return new Promise<GdbServerEnd>((resolve) => {
    // a connection's replay still running when it ends stops at its next poll, before the next one's packets
    let queue: Promise<void> = Promise.resolve();
    const enqueue = (job: () => Promise<void>) => {
      queue = queue.then(job);
    };
    let active: Connection | undefined;
    /** A connection that came while one was served: served if that one ends soon. */
    let waiting: { socket: Socket; timer: NodeJS.Timeout } | undefined;
    let done = false;
    const finish = (end: GdbServerEnd) => {
      if (done) return;
      done = true;
      if (waiting) {
        clearTimeout(waiting.timer);
        waiting.socket.destroy();
      }
      for (const [name, handler] of handlers) process.off(name, handler);
      active?.close('kill');
      server.close();
      resolve(end);
    };
    const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
      const handler = () => {
        if (done) process.exit(signalExitCode(name));
        opts.log(`${name}: the gdb stub stops`);
        finish({ reason: 'signal', exitCode: signalExitCode(name) });
      };
      process.on(name, handler);
      return [name, handler] as const;
    });

    // (only now: whoever waits for this line may signal at once)
    opts.log(`gdb stub listening on ${where} (${opts.describe}; in gdb: target remote ${where})`);

    const serve = (socket: Socket) => {
      opts.log(`gdb connected from ${peerOf(socket)}`);
      const conn: Connection = new Connection(socket, target, opts.trace, `target remote ${where}`, enqueue, (after) => {
        if (active === conn) active = undefined;
        if (done) return;
        const at = `instruction ${target.position.instructions}, ${target.position.records} records matched`;
        if (after === 'kill') {
          opts.log(`gdb killed the replay (at ${at}): the stub ends`);
          finish({ reason: 'killed', exitCode: 0 });
        } else if (opts.once) {
          opts.log(`gdb disconnected (at ${at}): the stub ends (--gdb-once)`);
          finish({ reason: 'connection-ended', exitCode: 0 });
        } else {
          opts.log(`gdb disconnected; the replay stays at ${at}; still listening on ${where}`);
          const next = waiting;
          if (next) {
            clearTimeout(next.timer);
            waiting = undefined;
            serve(next.socket);
          }
        }
      });
      active = conn;
    };
    const refuse = (socket: Socket) => {
      opts.log(`refused a gdb connection from ${peerOf(socket)}: one is being served`);
      socket.destroy();
    };

    server.on('connection', (socket) => {
      if (done || waiting) return refuse(socket);
      if (!active) return serve(socket);
      // gdb's `disconnect` then `target remote` can come before the old connection's close is seen here
      const timer = setTimeout(() => {
        waiting = undefined;
        refuse(socket);
      }, RECONNECT_GRACE_MS);
      waiting = { socket, timer };
    });
  });
}
