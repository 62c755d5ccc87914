// outpost-hub: the hub server (`serve`) and, in later commands, its admin CLI.
// Nothing imports this file.
import { OutpostError } from '@outpost/shared';
import { adminHelp, adminNouns, runAdmin } from './cli/admin.ts';
import { serve, serveHelp } from './cli/serve.ts';
import { loadServeConfig } from './config/index.ts';
import { hubVersion } from './version.ts';

const help = `Usage: outpost-hub <command> [flags]

Commands:
  serve              run the hub (see outpost-hub serve --help)
  version            print the version

${adminHelp()}
Run 'outpost-hub <command> --help' for a command's flags. On the hub's own machine the
admin commands find the hub, its CA and the admin token in ./.outpost-hub by themselves.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const config = loadServeConfig(rest);
      if (config === 'help') {
        process.stdout.write(serveHelp);
        return 0;
      }
      await serve(config);
      return -1; // keeps running until a signal stops it
    }
    case 'version':
    case '--version':
      process.stdout.write(`${hubVersion}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(help);
      return command === undefined ? 2 : 0;
    default:
      if (adminNouns.includes(command)) return runAdmin(command, rest);
      process.stderr.write(`outpost-hub: unknown command ${JSON.stringify(command)}\n\n${help}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof OutpostError) {
      process.stderr.write(`outpost-hub: ${err.message} (${err.code})\n`);
      process.exitCode = err.statusCode < 100 ? err.statusCode : 1;
    } else {
      process.stderr.write(`outpost-hub: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
