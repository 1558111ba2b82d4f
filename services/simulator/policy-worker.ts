import { parentPort, workerData } from 'node:worker_threads';
import { runPolicyAlone, type RegretSettings } from './regret.ts';

// Worker-thread entry of the regret simulation: one policy, start to end, result posted back.
const { settings, explorationShare } = workerData as { settings: RegretSettings; explorationShare: number };
parentPort!.postMessage(await runPolicyAlone(settings, explorationShare));
