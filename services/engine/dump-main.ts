import { parseArgs } from 'node:util';
import { dumpEngineState } from './state-dump.ts';

// Prints the engine's state as JSON lines: `npm run engine:dump -- --state-dir .state/engine`.
const { values } = parseArgs({ options: { 'state-dir': { type: 'string', default: '.state/engine' } } });
const lines = await dumpEngineState(values['state-dir']!);
for (const line of lines) process.stdout.write(`${JSON.stringify(line)}\n`);
