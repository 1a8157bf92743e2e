/**
 * The V8 flags the CM runs with: in `npm start` (package.json), in the `shared-bosh` command's
 * shebang (main.ts) and for the benchmark's CM process. main.test.ts checks that all three agree.
 *
 * A CM's young objects are short-lived except one kind: the held request of every session
 * (node:http's request and response objects, its exchange), which lives until that session's
 * next event, often a second or more. A young-generation GC copies what is alive, and with
 * Node 20's young generation (up to 16 MiB per semi-space) that is most of the held requests:
 * pauses of 5 to 16 ms, the CM's own share of its p99 latency.
 *
 * - `--max-semi-space-size=2` (MiB): young GCs run about 7× as often, but each copies only the
 *   requests held since the previous one. The longest pause per measurement window fell to
 *   4 to 8 ms, at the same CPU per message.
 * - `--no-memory-reducer`: with a small young generation, held requests reach the old
 *   generation, and at low message rates (25 to 200 msg/s) V8's memory reducer, which takes a
 *   quiet process for an idle one, then ran mark-compacts of 10 to 30 ms; p99 at 50 msg/s rose
 *   from 8 to 11 ms to 21 to 29 ms. Without it the heap is still collected as usual; it is only
 *   not shrunk as eagerly when traffic drops.
 *
 * In three alternating A/B pairs of the benchmark (default flags vs these), relay p99 at 300 msg/s
 * fell from a median of 10.3 to 7.7 ms (10 s windows) and stayed the same from 25 to 200 msg/s;
 * from 500 to 1,000 msg/s the pairs went both ways. See docs/performance.md.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--no-memory-reducer'];
