/**
 * The HTTP baseline of the benchmarks (docs/quality.md §1): bare Koa with a router answering a small
 * JSON body, in one process, nothing else. Started by scripts/bench/lib.ts on PORT.
 */
import http from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';

const app = new Koa();
const router = new Router();
router.get('/hello', (ctx) => {
  ctx.body = { status: 'ok', payCode: '15010226100000000103', amountDue: '100.00' };
});
app.use(router.routes());
const server = http.createServer(app.callback());
server.keepAliveTimeout = 5_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
