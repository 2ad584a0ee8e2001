/** Scheduled messaging (PUB-*): the public door of src/pubsub. */
export { Broker, type BrokerOptions } from './broker.js';
export { signChannelToken, verifyChannelToken, type ChannelClaims } from './channel-token.js';
export { defaultLimits, INTERNAL_PREFIX, isInternalChannel, isPublicChannel, parseTime, validatePublish, PUBLIC_PREFIX, type NewMessage, type PublicationFrame, type PubsubLimits, type StoredMessage } from './message.js';
export { NatsClient, parseNatsUrl, type NatsClientOptions } from './nats-client.js';
export { createPubsubService, loadOrCreateSecret, type PubsubService, type PubsubServiceOptions } from './pubsub-service.js';
export { systemClock, TimerQueue, type Clock } from './timer-queue.js';
export { createPubsubClient, INTERNAL_CHANNELS, type ClientPublication, type PubsubClient, type PubsubClientOptions, type SubscribedInfo, type WebSocketConstructor } from './client/index.js';
