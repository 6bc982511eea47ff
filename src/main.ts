/**
 * Process entry point: `ROLE=gateway|worker|all node dist/src/main.js` (npm start, npm run
 * start:gateway, npm run start:worker). It checks the Node version before anything else loads:
 * the real program (run-role.ts) pulls native addons that crash on another Node.
 */
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem) {
  console.error(problem);
  process.exit(1);
}
await import('./run-role.js');
