/**
 * The command loop of a load generator child (bench/loadgen.ts, bench/tabs-loadgen.ts): each
 * message `{ id, command }` from the orchestrator is handled and answered with `{ id, ok, result }`
 * or `{ id, ok: false, error }`; `{ cmd: 'exit' }` ends the process, and so does a closed channel.
 */
export function serveGeneratorCommands<C extends { cmd: string }>(script: string, parent: string, handle: (command: C) => Promise<unknown>): void {
  if (!process.send) {
    console.error(`bench/${script} runs as a child of bench/${parent} (it needs an IPC channel)`);
    process.exit(2);
  }
  const run = (command: C): Promise<unknown> => {
    if (command.cmd !== 'exit') return handle(command);
    setImmediate(() => process.exit(0));
    return Promise.resolve({});
  };
  process.on('message', (msg: { id: number; command: C }) => {
    run(msg.command).then(
      (result) => process.send!({ id: msg.id, ok: true, result }),
      (err: Error) => process.send!({ id: msg.id, ok: false, error: err.stack ?? err.message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true, pid: process.pid });
}
