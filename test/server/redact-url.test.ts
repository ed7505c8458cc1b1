import { describe, expect, it } from '@jest/globals';
import { redactUrl } from '../../src/server/db/index.js';

describe('redactUrl (database URLs in logs and messages)', () => {
  it.each([
    ['postgres://hoist:s3cret@db:5432/hoist', 'postgres://hoist:***@db:5432/hoist'],
    ['postgresql://:s3cret@db/hoist', 'postgresql://:***@db/hoist'],
    ['postgres://hoist@db/hoist?sslmode=require', 'postgres://hoist@db/hoist?sslmode=require'],
    // pg takes any query parameter as a connection option, the password included
    ['postgres://db/hoist?user=hoist&password=s3cret', 'postgres://db/hoist?user=hoist&password=***'],
    [
      'postgres://db/hoist?PASSWORD=s3cret&sslmode=require',
      'postgres://db/hoist?PASSWORD=***&sslmode=require',
    ],
    ['sqlite:/var/lib/hoist/hoist.db', 'sqlite:/var/lib/hoist/hoist.db'],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
    expect(redactUrl(url)).not.toContain('s3cret');
  });
});
