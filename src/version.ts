/** eifkit's version: the default BuildToolVersion in metadata and `eif --version`. Kept equal to package.json's (tested). */
export const VERSION = '0.1.0';
