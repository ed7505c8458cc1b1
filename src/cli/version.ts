import pkg from '../../package.json' with { type: 'json' };

/** The CLI's version: package.json's, bundled at build time. */
export const VERSION: string = pkg.version;
