import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { isQuietReply } from './quiet-replies';

/**
 * One line per request when it is answered: `{req: {id, method, url}, res: {statusCode},
 * responseTime}` (the root logger's serializers redact the URL), at info, warn for 4xx, error for
 * 5xx, as pino-http wrote it. Health probes are left out, and so are replies already accounted
 * for elsewhere (an outage's 503s). Nothing is built for a level the logger does not write: with
 * LOG_LEVEL=warn a 200 costs one comparison.
 */
export function registerAccessLog(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    if (
      logger.isLevelEnabled(level) &&
      !request.url.startsWith('/health/') &&
      !isQuietReply(reply.raw)
    ) {
      logger[level](
        {
          req: { id: request.id, method: request.method, url: request.url },
          res: { statusCode: status },
          responseTime: Math.round(reply.elapsedTime),
        },
        status >= 500 ? 'request errored' : 'request completed',
      );
    }
    done();
  });
}
