import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { exitOnStartupFailure } from '../shared/lifecycle.ts';
import { createLogger } from '../shared/logger.ts';
import { compileBootstrapConfig } from './config.ts';
import { publishSettings } from './publish-settings.ts';
import { parseSettingsFile } from './settings-file.ts';

// npm run settings -- publish <file.yaml|file.json>   validate every campaign, then publish them all
// npm run settings -- check <file.yaml|file.json>     validate only
// npm run settings -- publish --delete <id> [<id>...] delete campaigns (tombstones)

const USAGE = 'usage: npm run settings -- publish <file.yaml|file.json> | check <file> | publish --delete <campaignId>...';
/** The file holds invalid settings (sysexits EX_DATAERR): nothing was published. */
const EXIT_INVALID = 65;
const EXIT_USAGE = 64;

const [command, ...rest] = process.argv.slice(2);
if ((command !== 'publish' && command !== 'check') || rest.length === 0 || (command === 'check' && rest[0] === '--delete')) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(EXIT_USAGE);
}

try {
  const config = compileBootstrapConfig(process.env);
  const logger = createLogger('settings', config.common.logLevel);
  if (rest[0] === '--delete') {
    const ids = rest.slice(1);
    if (ids.length === 0 || ids.some((id) => id.trim() === '')) {
      process.stderr.write(`${USAGE}\n`);
      process.exit(EXIT_USAGE);
    }
    const { topic, deleted } = await publishSettings(config, logger, { delete: ids });
    logger.info({ topic, deleted }, 'campaign settings deleted');
  } else {
    if (rest.length !== 1) {
      process.stderr.write(`${USAGE}\n`);
      process.exit(EXIT_USAGE);
    }
    const file = rest[0]!;
    const result = parseSettingsFile(readFileSync(file, 'utf8'), basename(file));
    if (!result.ok) {
      process.stderr.write(`settings: ${basename(file)} is invalid, nothing was published:\n${result.problems.map((problem) => `  ${problem}\n`).join('')}`);
      process.exit(EXIT_INVALID);
    }
    if (command === 'check') {
      logger.info({ campaigns: result.campaigns.map((settings) => settings.campaignId) }, 'campaign settings are valid');
    } else {
      const { topic, published } = await publishSettings(config, logger, { publish: result.campaigns });
      logger.info({ topic, published }, 'campaign settings published');
    }
  }
} catch (error) {
  exitOnStartupFailure('settings', error);
}
