/**
 * Shell completion scripts built from the command table, so a new command or
 * flag is completed without touching this file. Versions are not baked in:
 * the scripts ask `switchyard completion --versions` when a version is due,
 * so they follow the policy as it changes (for a version argument, and for
 * the value of --to).
 */

export interface CompletionCommand {
  /** `deploy`, or `policy show`. */
  name: string;
  description: string;
  /** Long and short flags: `--wait`, `-y`. */
  flags: string[];
  /** Flags that take a value (`--timeout`): the next word is theirs. */
  valueFlags: string[];
  /** The first positional argument is a version of the policy. */
  takesVersion: boolean;
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** `-y, --yes` → ['-y', '--yes']; `--timeout <duration>` → ['--timeout'], takes a value. */
export function splitFlags(flags: string): { names: string[]; takesValue: boolean } {
  const names = flags.split(/[ ,|]+/).filter((w) => w.startsWith('-'));
  return { names, takesValue: /[<[]/.test(flags) };
}

const words = (list: Iterable<string>) => [...new Set(list)].join(' ');
const quoteSingle = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

function tables(commands: CompletionCommand[]) {
  const top = words(commands.map((c) => c.name.split(' ')[0]!).concat(['help']));
  const groups = [...new Set(commands.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]!))];
  const subs = (group: string) => words(commands.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name.split(' ')[1]!));
  const valueFlags = words(commands.flatMap((c) => c.valueFlags));
  const versionCommands = commands.filter((c) => c.takesVersion).map((c) => c.name);
  return { top, groups, subs, valueFlags, versionCommands };
}

function bash(commands: CompletionCommand[], globals: string[]): string {
  const t = tables(commands);
  const flagCases = commands.map((c) => `    ${JSON.stringify(c.name)}) echo ${quoteSingle(words(c.flags))} ;;`).join('\n');
  const groupCases = t.groups.map((g) => `    ${g}) COMPREPLY=($(compgen -W ${quoteSingle(t.subs(g))} -- "$cur")) ;;`).join('\n');
  const versionCase = t.versionCommands.map((n) => JSON.stringify(n)).join('|');
  return `# switchyard completion for bash. Load it with:  eval "$(switchyard completion bash)"
# or save it:  switchyard completion bash > ~/.local/share/bash-completion/completions/switchyard
_switchyard_flags() {
  case "$1" in
${flagCases}
    *) echo ${quoteSingle(words([...globals, '--help', '--version']))} ;;
  esac
}

_switchyard() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" key="" w i skip=0
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local value_flags=${quoteSingle(` ${t.valueFlags} `)} groups=${quoteSingle(` ${t.groups.join(' ')} `)}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    if [[ $value_flags == *" $w "* || $w == --to ]]; then skip=1; continue; fi
    [[ $w == -* ]] && continue
    if [[ -z $key ]]; then key=$w
    elif [[ $groups == *" $key "* ]]; then key="$key $w"
    else key="$key ARG"; break
    fi
  done
  if [[ $prev == --to ]]; then
    COMPREPLY=($(compgen -W "$(switchyard completion --versions 2>/dev/null)" -- "$cur"))
    return 0
  fi
  if [[ $value_flags == *" $prev "* ]]; then
    case "$prev" in --config|--from|--sync|--dir) COMPREPLY=($(compgen -f -- "$cur")) ;; esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_switchyard_flags "\${key% ARG}")" -- "$cur"))
    return 0
  fi
  case "$key" in
    "") COMPREPLY=($(compgen -W ${quoteSingle(t.top)} -- "$cur")) ;;
${groupCases}
    completion) COMPREPLY=($(compgen -W ${quoteSingle(SHELLS.join(' '))} -- "$cur")) ;;
${versionCase === '' ? '' : `    ${versionCase}) COMPREPLY=($(compgen -W "$(switchyard completion --versions 2>/dev/null)" -- "$cur")) ;;\n`}  esac
  return 0
}
complete -F _switchyard switchyard
`;
}

/** zsh runs the bash script through bashcompinit, which ships with zsh. */
function zsh(commands: CompletionCommand[], globals: string[]): string {
  return `#compdef switchyard
# switchyard completion for zsh. Load it with:  eval "$(switchyard completion zsh)"
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bash(commands, globals).split('\n').filter((l) => !l.startsWith('# ')).join('\n')}`;
}

function fish(commands: CompletionCommand[], globals: string[]): string {
  const t = tables(commands);
  const lines = ['# switchyard completion for fish. Load it with:  switchyard completion fish | source', 'complete -c switchyard -f'];
  for (const c of commands.filter((x) => !x.name.includes(' '))) {
    lines.push(`complete -c switchyard -n __fish_use_subcommand -a ${c.name} -d ${quoteSingle(c.description)}`);
  }
  for (const g of t.groups) {
    lines.push(`complete -c switchyard -n __fish_use_subcommand -a ${g}`);
    for (const c of commands.filter((x) => x.name.startsWith(`${g} `))) {
      lines.push(`complete -c switchyard -n ${quoteSingle(`__fish_seen_subcommand_from ${g}`)} -a ${c.name.split(' ')[1]} -d ${quoteSingle(c.description)}`);
    }
  }
  for (const flag of [...globals, '--help']) {
    lines.push(`complete -c switchyard ${flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`}`);
  }
  for (const c of commands) {
    const last = c.name.split(' ').at(-1)!;
    for (const flag of c.flags) {
      const option = flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`;
      const value = flag === '--to' ? ` -r -a ${quoteSingle('(switchyard completion --versions 2>/dev/null)')}` : c.valueFlags.includes(flag) ? ' -r' : '';
      lines.push(`complete -c switchyard -n ${quoteSingle(`__fish_seen_subcommand_from ${last}`)} ${option}${value}`);
    }
  }
  lines.push(`complete -c switchyard -n ${quoteSingle('__fish_seen_subcommand_from completion')} -a ${quoteSingle(SHELLS.join(' '))}`);
  const versionWords = t.versionCommands.map((n) => n.split(' ').at(-1)!).join(' ');
  if (versionWords !== '') lines.push(`complete -c switchyard -n ${quoteSingle(`__fish_seen_subcommand_from ${versionWords}`)} -a ${quoteSingle('(switchyard completion --versions 2>/dev/null)')}`);
  return `${lines.join('\n')}\n`;
}

/** `globals`: the flags every command takes, offered before a command too. */
export function completionScript(shell: Shell, commands: CompletionCommand[], globals: string[]): string {
  return shell === 'bash' ? bash(commands, globals) : shell === 'zsh' ? zsh(commands, globals) : fish(commands, globals);
}
