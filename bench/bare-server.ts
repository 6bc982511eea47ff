import { createServer } from 'node:http';

/**
 * Baseline (a): the ceiling of one Node process on this machine. It reads the request body like
 * the GraphQL endpoint must and answers a small JSON, nothing else. Run as a child process by the
 * benchmark (PORT from the environment); bench code may read process.env, it is not the app.
 */
const payload = Buffer.from(JSON.stringify({ data: { ok: true, at: 'bare' } }));
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(payload.length) };

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(payload);
  });
});
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
