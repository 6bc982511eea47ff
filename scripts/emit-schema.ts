import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { printAppSchema } from '../src/http/print-schema.js';

/** Writes schema.graphql from the code (`npm run schema`); a test fails when the file is stale. */
const target = new URL('../../schema.graphql', import.meta.url);
await writeFile(target, await printAppSchema());
console.log(`wrote ${target.pathname}`);
