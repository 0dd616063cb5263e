/** The `edgehead` command line: one file per command, dispatched here. */
import { demoCommand } from './demo.js';
import { embedCommand, embedHelp } from './embed.js';
import { out, reportError, UsageError } from './io.js';
import { modelsCommand, modelsHelp } from './models.js';
import { fitCommand, fitHelp } from './fit.js';
import { evalCommand, evalHelp } from './eval.js';
import { predictCommand, predictHelp } from './predict.js';
import { classifyCommand, pushCommand, remoteHelp, serveCommand } from './remote.js';
import { finetuneCommand, finetuneHelp } from './finetune.js';
import { rankCommand, rankHelp } from './rank.js';
import { shiftCommand, shiftHelp } from './shift.js';
import { signCommand, signHelp } from './sign.js';

const demoHelp =
  'edgehead demo [--no-worker] [--json]   fit a support-intent classifier on the embedded examples, serve it locally, classify over HTTP';

const HELP = `edgehead — frozen backbones → embeddings → small heads, at the edge.

${embedHelp}

${modelsHelp}

${fitHelp}

${evalHelp}

${predictHelp}

${rankHelp}

${finetuneHelp}

${shiftHelp}

${remoteHelp}

${signHelp}

${demoHelp}`;

/** Each command's usage, printed by `edgehead <command> --help` before the command runs at all. */
const COMMAND_HELP: Record<string, string> = {
  embed: embedHelp,
  models: modelsHelp,
  fit: fitHelp,
  eval: evalHelp,
  predict: predictHelp,
  rank: rankHelp,
  finetune: finetuneHelp,
  shift: shiftHelp,
  serve: remoteHelp,
  push: remoteHelp,
  classify: remoteHelp,
  demo: demoHelp,
  sign: signHelp,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const json = rest.includes('--json');
  if (command && COMMAND_HELP[command] && (rest.includes('--help') || rest.includes('-h'))) {
    out(COMMAND_HELP[command]);
    return 0;
  }
  try {
    switch (command) {
      case 'embed':
        return await embedCommand(rest);
      case 'models':
        return await modelsCommand(rest);
      case 'fit':
        return await fitCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'predict':
        return await predictCommand(rest);
      case 'finetune':
        return await finetuneCommand(rest);
      case 'rank':
        return await rankCommand(rest);
      case 'shift':
        return await shiftCommand(rest);
      case 'serve':
        return await serveCommand(rest);
      case 'push':
        return await pushCommand(rest);
      case 'classify':
        return await classifyCommand(rest);
      case 'demo':
        return await demoCommand(rest);
      case 'sign':
        return await signCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        out(HELP);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}".`);
    }
  } catch (e) {
    if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) return reportError(new UsageError(e.message), { json, command: COMMAND_HELP[command ?? ''] ? command : undefined });
    return reportError(e, { json, command: COMMAND_HELP[command ?? ''] ? command : undefined });
  }
}
