export { FlowNotifier, type NotificationPayload, type NotifierOptions } from './notifier.js';
export { postWebhook, type DeliveryOptions } from './webhook.js';
export { sendMail, type MailMessage } from './smtp.js';
export { publishToChannel } from './channel.js';
