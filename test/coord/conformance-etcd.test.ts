// The coordination conformance suite against real etcd 3.4 (Debian's etcd-server).
import { startEtcd } from '../testkit/index.js';
import { runCoordConformance } from './conformance.js';

runCoordConformance({ name: 'real etcd', start: (owner) => startEtcd({ t: owner }) });
