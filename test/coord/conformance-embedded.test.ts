// The coordination conformance suite against the embedded store, run as a real `flotilla coord serve` process.
import { startEmbeddedCoord } from '../testkit/index.js';
import { runCoordConformance } from './conformance.js';

runCoordConformance({ name: 'flotilla coord serve', start: (owner) => startEmbeddedCoord({ t: owner }) });
