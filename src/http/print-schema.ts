import { printSchema } from 'graphql';
import { buildAppSchema } from './build-schema.js';

/** The canonical SDL of the public API, as checked in at `schema.graphql`. */
export async function printAppSchema(): Promise<string> {
  const header = '# Generated from the code by `npm run schema`; do not edit by hand.\n\n';
  return header + printSchema(await buildAppSchema()) + '\n';
}
