/**
 * The shell scripts switchyard runs on remote hosts, as constants. Each runs
 * as `sh -c SCRIPT sh ARG...`: the script never changes, and every value
 * (paths, process names, ports) arrives as a quoted positional parameter, so
 * no value is ever parsed as shell code.
 */

/** Expands a PM2_HOME as written in the config ($1) the way the remote shell would: ~, relative to $HOME; unset, the remote environment's PM2_HOME, else $HOME/.pm2. */
const PM2_HOME_OF = `h=$1
case $h in
  '') h=\${PM2_HOME:-$HOME/.pm2} ;;
  '~') h=$HOME ;;
  '~/'*) h=$HOME/\${h#'~/'} ;;
  /*) ;;
  *) h=$HOME/$h ;;
esac`;

/** Makes a configured node's folder come first in PATH ($2), so pm2's `#!/usr/bin/env node` finds it. */
const NODE_PATH = `n=$2
if [ -n "$n" ]; then PATH=\${n%/*}:$PATH; export PATH; fi`;

/**
 * First contact: the remote home and PM2_HOME, whether a PM2 daemon runs
 * there, whether pm2 ($3) and rsync can be found. Args: pm2Home, nodePath, pm2.
 */
export const HELLO = `${PM2_HOME_OF}
${NODE_PATH}
printf 'home=%s\\n' "$HOME"
printf 'pm2home=%s\\n' "$h"
if [ -f "$h/pm2.pid" ] && kill -0 "$(cat "$h/pm2.pid")" 2>/dev/null; then echo daemon=1; else echo daemon=0; fi
if command -v "$3" >/dev/null 2>&1; then echo pm2=1; else echo pm2=0; fi
if command -v rsync >/dev/null 2>&1; then echo rsync=1; else echo rsync=0; fi`;

/**
 * Runs pm2 with the host's PM2_HOME: args pm2Home (absolute), nodePath, pm2,
 * then the script's own args. Scripts built on it call the function \`pm2\`.
 */
function withPm2(body: string): string {
  return `PM2_HOME=$1; export PM2_HOME
${NODE_PATH}
b=$(command -v "$3") || { echo "pm2 not found: $3" >&2; exit 127; }
shift 3
pm2() { if [ -n "$n" ]; then "$n" "$b" "$@"; else "$b" "$@"; fi; }
${body}`;
}

export const PM2_JLIST = withPm2('pm2 jlist');

/** Whether the host's PM2 daemon runs; read-only callers must not start one (pm2 itself would). */
const DAEMON_RUNS = '[ -f "$PM2_HOME/pm2.pid" ] && kill -0 "$(cat "$PM2_HOME/pm2.pid")" 2>/dev/null';

/** pm2 jlist only while a daemon runs; exit 3 (and a word on stderr) when none does. */
export const PM2_JLIST_IF_RUNNING = withPm2(`${DAEMON_RUNS} || { echo 'no PM2 daemon running' >&2; exit 3; }
pm2 jlist`);

/** pm2 delete by PM2's number ($1, digits only), only while a daemon runs: with none, nothing runs to delete. */
export const PM2_DELETE_BY_NUMBER = withPm2(`case $1 in ''|*[!0-9]*) echo "not a PM2 process number: $1" >&2; exit 2 ;; esac
${DAEMON_RUNS} || exit 0
pm2 delete "$1"`);

/** The exit code of PM2_START when PM2 already lists the name: nothing was started (PM2 would restart it). */
export const NAME_LISTED_EXIT = 42;

/**
 * The app description comes on stdin; pm2 reads an ecosystem file only from
 * a path ending in .json. Args: the process name, refused (exit 42) when
 * PM2 already lists it. Names are switchyard's own (no quotes or
 * backslashes), so they appear in jlist's JSON exactly as given.
 */
export const PM2_START = withPm2(`pat='"name":"'"$1"'"'
if pm2 jlist 2>/dev/null | grep -qF "$pat"; then echo "PM2 already lists $1" >&2; exit ${NAME_LISTED_EXIT}; fi
d=$(mktemp -d "\${TMPDIR:-/tmp}/switchyard.XXXXXX") || exit 1
cat > "$d/app.json" && pm2 start "$d/app.json"
rc=$?
rm -rf "$d"
exit $rc`);

/** Args: number of lines, log file. A missing log is an empty one. */
export const LOG_TAIL = `tail -n "$1" -- "$2" 2>/dev/null; exit 0`;

/**
 * Args: number of lines, log file. Follows the log until our side goes away:
 * ssh's stdin stays open while we follow, so its end (the local ssh was
 * stopped) ends `cat` here, which stops tail instead of leaving it behind.
 */
export const LOG_FOLLOW = `tail -n "$1" -F -- "$2" 2>/dev/null & t=$!
cat >/dev/null
kill "$t" 2>/dev/null; exit 0`;

/**
 * Whether the script exists, then which ports can be bound. Args: node code,
 * script path, node (empty: node from PATH), how many ports are wanted, the
 * candidate ports.
 */
export const PROBE = `c=$1; s=$2; n=\${3:-node}; shift 3
if [ -f "$s" ]; then echo script=1; else echo script=0; fi
exec "$n" -e "$c" "$@"`;

/** Binds each candidate port in turn (as the service would, on every interface) and prints the first that work. */
export const PROBE_NODE = `const net = require('net');
const [want, ...ports] = process.argv.slice(1).map(Number);
const free = [];
const tryPort = (port) => new Promise((done) => {
  const server = net.createServer();
  server.once('error', () => done(false));
  server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => done(true)));
});
(async () => {
  for (const port of ports) {
    if (free.length >= want) break;
    if (await tryPort(port)) free.push(port);
  }
  console.log('ports=' + free.join(','));
})();`;

/** Unpacks a tar stream from stdin into a folder ($1), made if missing. */
export const TAR_UNPACK = `mkdir -p -- "$1" && tar -C "$1" -xf -`;
