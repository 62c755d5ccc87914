// outpost-agent: the spoke-side binary. Nothing imports this file.
import { OutpostError } from '@outpost/shared';
import pino from 'pino';
import { joinCommand, joinHelp } from './cli/join.ts';
import { runCommand, runHelp } from './cli/run.ts';
import { loadJoinConfig, loadLeaveConfig, loadRunConfig, loadStatusConfig } from './config/index.ts';
import { AgentError } from './errors.ts';
import { agentVersion } from './version.ts';

const help = `Usage: outpost-agent <command> [flags]

Commands:
  join       join this cluster to a hub; with --install also install the agent into it
             (see outpost-agent join --help)
  leave      remove what join --install installed, leaving what works applied
  run        run the agent with the stored credentials (see outpost-agent run --help)
  status     what the agent knows: hub, certificate, leader, works, outbox (also when it
             is not running; see outpost-agent status --help)
  version    print the version

Run 'outpost-agent <command> --help' for a command's flags.
`;

const stdout = (s: string) => void process.stdout.write(s);
const stderr = (s: string) => void process.stderr.write(s);

function makeLogger(level: string, fd: 1 | 2) {
  return pino(
    {
      level,
      base: { component: 'agent' },
      // Keys, tokens and CSRs never reach a log line, whatever object carries them.
      redact: {
        paths: [
          'token',
          '*.token',
          'keyPem',
          '*.keyPem',
          'key',
          '*.key',
          'csr',
          '*.csr',
          '*.privateKey',
          'config.token',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd, sync: true }),
  );
}

/** Aborts on the first SIGTERM/SIGINT; a second one exits at once. */
function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    controller.abort(new Error(`stopped by ${sig}`));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return controller.signal;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'join': {
      const config = loadJoinConfig(rest);
      if (config === 'help') {
        stdout(joinHelp);
        return 0;
      }
      const log = makeLogger(config.logLevel, 2);
      if (config.install) {
        // Loaded only here: `run` never carries the installer.
        const { installCommand } = await import('./cli/install.ts');
        return installCommand(config, log, { stdout, stderr }, stopSignal());
      }
      return joinCommand(config, log, { stdout, stderr }, stopSignal());
    }
    case 'leave': {
      const config = loadLeaveConfig(rest);
      const { leaveCommand, leaveHelp } = await import('./cli/install.ts');
      if (config === 'help') {
        stdout(leaveHelp);
        return 0;
      }
      return leaveCommand(config, makeLogger(config.logLevel, 2), { stdout, stderr }, stopSignal());
    }
    case 'run': {
      const config = loadRunConfig(rest);
      if (config === 'help') {
        stdout(runHelp);
        return 0;
      }
      return runCommand(config, makeLogger(config.logLevel, 1), { stderr }, stopSignal());
    }
    case 'status': {
      const config = loadStatusConfig(rest);
      // Loaded only here: `run` never carries the status printer.
      const { statusCommand, statusHelp } = await import('./cli/status.ts');
      if (config === 'help') {
        stdout(statusHelp);
        return 0;
      }
      return statusCommand(config, makeLogger(config.logLevel, 2), { stdout });
    }
    case 'version':
    case '--version':
      stdout(`${agentVersion}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      stdout(help);
      return command === undefined ? 2 : 0;
    default:
      stderr(`outpost-agent: unknown command ${JSON.stringify(command)}\n\n${help}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof AgentError && err.exitCode === 2) {
      const cmd = process.argv[2] ?? '';
      stderr(`outpost-agent: ${err.message} (${err.code})\nRun 'outpost-agent ${cmd} --help' for usage.\n`);
      process.exitCode = 2;
    } else if (err instanceof OutpostError) {
      stderr(`outpost-agent: ${err.message} (${err.code})\n`);
      process.exitCode = 1;
    } else if ((err as Error)?.name === 'AbortError' || (err as Error)?.message?.startsWith('stopped by')) {
      stderr('outpost-agent: interrupted\n');
      process.exitCode = 1;
    } else {
      stderr(`outpost-agent: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
