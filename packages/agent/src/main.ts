// outpost-agent: the spoke-side binary. Nothing imports this file.
import { agentVersion } from './version.ts';

const help = `Usage: outpost-agent <command> [flags]

Commands:
  version    print the version

The join, run and status commands arrive with registration and work delivery.
`;

function main(argv: string[]): number {
  const [command] = argv;
  switch (command) {
    case 'version':
    case '--version':
      process.stdout.write(`${agentVersion}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(help);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`outpost-agent: unknown command ${JSON.stringify(command)}\n\n${help}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
