// Concurrent transactions on the one SQLite connection run one after another: each sees the
// others' committed rows, none fails, none undoes another's work. (Before, two waiters woke at
// once, the second BEGIN failed and its ROLLBACK undid the first: 49 of 50 failed.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { SqliteDb } from '../../src/server/db/sqlite.js';

let dir: string;
let db: SqliteDb;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hoist-sqlite-tx-'));
  db = new SqliteDb(join(dir, 'test.db'));
  await db.exec('CREATE TABLE t (n INTEGER NOT NULL)');
});

afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

it('serializes concurrent count-then-insert transactions, so a cap holds', async () => {
  const cap = 10;
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) =>
      db.transaction(async (tx) => {
        const c = await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM t');
        await new Promise((r) => setTimeout(r, i % 3));
        if (c!.n < cap) await tx.run('INSERT INTO t (n) VALUES (?)', [i]);
      }),
    ),
  );
  expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  expect((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n).toBe(cap);
});

it('keeps plain statements out of a transaction that another caller holds', async () => {
  await db.run('DELETE FROM t');
  const inTx = db.transaction(async (tx) => {
    await tx.run('INSERT INTO t (n) VALUES (1)');
    await new Promise((r) => setTimeout(r, 20));
    throw new Error('roll back');
  });
  // Queued while the transaction is open: must run after its rollback, not inside it.
  const outside = db.run('INSERT INTO t (n) VALUES (2)');
  await expect(inTx).rejects.toThrow('roll back');
  await outside;
  expect(await db.all<{ n: number }>('SELECT n FROM t')).toEqual([{ n: 2 }]);
});
