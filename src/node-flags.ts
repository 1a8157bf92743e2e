/**
 * The V8 flags the CM runs with: in `npm start` (package.json), in the `shared-bosh` command's
 * shebang (main.ts) and for the benchmark's CM process. main.test.ts checks that all three agree.
 *
 * `--max-semi-space-size=2` caps V8's young generation at 2 MiB per semi-space (Node 20's
 * default grows it to 16 MiB). A CM's young objects are short-lived except one kind: the held
 * request of every session (node:http's request and response objects, its exchange), which lives
 * until that session's next event, often a second or more. A young-generation GC copies what is
 * alive, and with a large young generation that is most of the held requests: pauses of 5 to
 * 13 ms, which became the CM's share of its p99 latency. With 2 MiB, GCs run more often (about
 * 7×) but each copies only the requests held since the previous one: in four A/B pairs of
 * `npm run bench` the longest GC pause halved (4 to 10 ms), relay p99 at 300 msg/s fell from a
 * median of 11.1 to 8.9 ms and fan-out p99 from 15 to 9.7 ms, at the same or lower CPU per
 * message. A 64 MiB semi-space went the other way (pauses of 20 to 30 ms).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
