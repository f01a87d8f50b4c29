import { parseBenchArgs, USAGE } from './lib/args.js';
import { runBench } from './lib/bench.js';

/** `npm run bench -- --scenario fanout --subs 1000 --seconds 10`: see lib/args.ts for every option. */
async function main(): Promise<number> {
  let options: ReturnType<typeof parseBenchArgs>;
  try {
    options = parseBenchArgs(process.argv.slice(2), (text) => console.log(text));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) return 0;
  const results = await runBench(options);
  if (options.resultsFile) console.error(`\nresults appended to ${options.resultsFile}`);
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(2);
  },
);
