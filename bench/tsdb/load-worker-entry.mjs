// A worker thread does not inherit the main thread's tsx loader (`node --import tsx`): register it here,
// then run the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./load-worker.ts');
