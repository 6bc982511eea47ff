/**
 * The Node major version the project runs on: the `node` devDependency, which npm scripts put first
 * on PATH. Native addons (argon2) are built for it; another version can crash without a word
 * (a segfault, exit code 139).
 */
export const REQUIRED_NODE_MAJOR = 24;

/** Why this Node cannot run the program (a message for the user), or undefined when it can. */
export function nodeVersionProblem(version: string): string | undefined {
  if (Number(version.split('.')[0]) === REQUIRED_NODE_MAJOR) return undefined;
  return (
    `This program needs Node ${REQUIRED_NODE_MAJOR}, but it was started with Node ${version}. ` +
    `Start it with npm start (or npm run start:gateway / npm run start:worker), which use the project's own ` +
    `Node ${REQUIRED_NODE_MAJOR} from node_modules, or type npx node dist/src/main.js.`
  );
}
