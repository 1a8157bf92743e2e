/**
 * The flags Node runs the CM with: one list for every way the CM is started (the `shared-bosh`
 * command's first line, `npm start`, the benchmark). test/node-flags.test.ts checks that they
 * agree; docs/operations.md ("Garbage collection") says why and how to run without them.
 *
 * `--single-threaded-gc`: V8 collects garbage on the CM's main thread only, with no parallel
 * scavenger tasks and no concurrent marking or sweeping threads. The CM's heap is small (tens of
 * MiB) and its collections short, so helper threads buy little; where the CM shares a CPU with the
 * XMPP server (or has one CPU at all), each collection instead waits for helper threads that the
 * scheduler has put behind other work: in the benchmark, pauses of up to 13 ms and a relay p99
 * at 1,400 msg/s of 23 to 51 ms against 17 to 23 ms with the flag, and the p99 to the last tab
 * over HTTP/2 halved, at no consistent CPU cost (docs/performance.md, "Garbage collection on the
 * main thread").
 */
export const NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** Did this process start with every flag of NODE_FLAGS? (Said at start, see main.ts.) */
export function runsWithNodeFlags(execArgv: readonly string[] = process.execArgv): boolean {
  return NODE_FLAGS.every((flag) => execArgv.includes(flag));
}
