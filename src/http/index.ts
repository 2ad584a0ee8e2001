export { createHttpServer, type HttpServer, type HttpServerOptions, type ReadinessCheck } from './http-server.js';
