/** Items that arrive while a transaction runs join the next one, up to this many. */
const GROUP_LIMIT = 200;

/**
 * Group commit: items that arrive while a write is running wait and go together in the next one, so concurrent
 * workflows share one lock acquisition and one commit instead of queueing on the lock one by one. A group that fails
 * is written again item by item, so one bad item fails only its own caller.
 */
export function groupCommit<T>(
  write: (items: readonly T[]) => Promise<void>,
  onGroupFailed: (err: unknown, size: number) => void = () => undefined,
): (item: T) => Promise<void> {
  const waiting: { item: T; done: (err?: unknown) => void }[] = [];
  let draining = false;

  async function drain(): Promise<void> {
    draining = true;
    while (waiting.length > 0) {
      const group = waiting.splice(0, GROUP_LIMIT);
      try {
        await write(group.map((g) => g.item));
        for (const g of group) g.done();
      } catch (err) {
        if (group.length === 1) {
          group[0]?.done(err);
          continue;
        }
        onGroupFailed(err, group.length);
        for (const g of group) await write([g.item]).then(() => g.done(), g.done);
      }
    }
    draining = false;
  }

  return (item) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ item, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!draining) void drain();
    });
}
