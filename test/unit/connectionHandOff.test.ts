import { LeastConnections } from '../../src/connectionHandOff';

/** Picks `count` times, opening a connection on each pick; answers the ids picked. */
function openMany(balance: LeastConnections<number>, count: number): number[] {
  return Array.from({ length: count }, () => {
    const id = balance.pick() as number;
    balance.opened(id);
    return id;
  });
}

describe('LeastConnections: the worker that takes the next connection (decision 0244)', () => {
  it('splits a burst evenly, in turn, whatever order the workers became ready in', () => {
    const balance = new LeastConnections<number>();
    balance.add(2);
    balance.add(1);
    const picked = openMany(balance, 32);
    expect(picked.slice(0, 4)).toEqual([2, 1, 2, 1]);
    expect(picked.filter((id) => id === 1)).toHaveLength(16);
    expect(picked.filter((id) => id === 2)).toHaveLength(16);
  });

  it('sends new connections to the worker whose connections closed until the two are level', () => {
    const balance = new LeastConnections<number>();
    balance.add(1);
    balance.add(2);
    openMany(balance, 10);
    for (let index = 0; index < 5; index += 1) balance.closed(1);
    expect(balance.count(1)).toBe(0);
    // Level at 5 and 5 after five picks; then in turn again.
    expect(openMany(balance, 10)).toEqual([1, 1, 1, 1, 1, 2, 1, 2, 1, 2]);
    expect([balance.count(1), balance.count(2)]).toEqual([7, 8]);
  });

  it('forgets a worker that exited and starts a new one at no connections, which then takes the next ones', () => {
    const balance = new LeastConnections<number>();
    balance.add(1);
    balance.add(2);
    openMany(balance, 8);
    balance.remove(1);
    expect(openMany(balance, 3)).toEqual([2, 2, 2]);
    balance.add(3);
    expect(openMany(balance, 7)).toEqual([3, 3, 3, 3, 3, 3, 3]);
    expect(balance.count(3)).toBe(7);
    expect(balance.count(2)).toBe(7);
    // A report about a worker that is gone, or a close beyond what was opened, changes nothing.
    balance.closed(1);
    balance.opened(1);
    expect(balance.count(1)).toBeUndefined();
    for (let index = 0; index < 9; index += 1) balance.closed(3);
    expect(balance.count(3)).toBe(0);
  });

  it('has no worker to pick before one is ready', () => {
    expect(new LeastConnections<number>().pick()).toBeUndefined();
  });
});
