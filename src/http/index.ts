export { createHttpServer, type HttpServer, type HttpServerOptions, type ReadinessCheck, type RegisteredRoute } from './http-server.js';
