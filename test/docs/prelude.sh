# Functions the docs test defines before a shell block (test/docs/shell.ts): what the block
# runs as written, wrapped so the test can see it. DOC_TEST_ROOT, DOC_TEST_STATE (this
# block's records), DOC_TEST_CACHE (load-test runs of the whole test run) and
# DOC_TEST_SCRIPTS (the scripts of package.json) come from the environment.
__root="$DOC_TEST_ROOT"; __state="$DOC_TEST_STATE"; __cache="$DOC_TEST_CACHE"; __n=0; __servers=0; __redis=0
__scripts=" $DOC_TEST_SCRIPTS "
curl() {
  __n=$((__n + 1)); echo "$__cmd" > "$__state/curl.$__n.command"
  command curl -sS --max-time 10 -o "$__state/curl.$__n.body" -w '%{http_code}' "$@" > "$__state/curl.$__n.status"
}
switchboard() {
  if [ "$1" = serve ] && [[ " $* " != *" --help "* ]]; then __serve "$@"; return; fi
  if [ "$1" = bench ] && [[ " $* " != *" --help "* ]]; then __bench "$@"; return; fi
  node "$__root/packages/server/bin/switchboard.js" "$@"
}
# One run of a load test per command line and test run: the same command in several docs runs once.
__bench() {
  local key; key=$(printf '%s' "$*" | md5sum | cut -c1-16)
  if mkdir "$__cache/$key.lock" 2> /dev/null; then
    ( set +e; node "$__root/packages/server/bin/switchboard.js" "$@" > "$__cache/$key.out" 2> "$__cache/$key.err"; echo $? > "$__cache/$key.rc" )
  fi
  for _ in $(seq 1 2400); do [ -f "$__cache/$key.rc" ] && break; sleep 0.05; done
  cat "$__cache/$key.out"; cat "$__cache/$key.err" >&2
  return "$(cat "$__cache/$key.rc")"
}
npx() {
  if [ "$1" = switchboard ]; then shift; switchboard "$@"; return; fi
  echo "doc-test: npx $1 is not run by the docs test" >&2; return 127
}
npm() {
  case "$1" in
    install|ci|i) return 0 ;;
    start|test) [[ "$__scripts" == *" $1 "* ]] || { echo "doc-test: package.json has no script $1" >&2; return 1; } ;;
    run|run-script) [[ "$__scripts" == *" $2 "* ]] || { echo "doc-test: package.json has no script $2" >&2; return 1; } ;;
    *) echo "doc-test: npm $1 is not run by the docs test" >&2; return 127 ;;
  esac
}
__serve() {
  __servers=$((__servers + 1)); local i=$__servers log="$__state/serve.$__servers.log" health
  ( set +e; node "$__root/packages/server/bin/switchboard.js" "$@" > "$log" 2>&1 < /dev/null & echo $! > "$__state/serve.$i.pid"; wait $!; echo $? > "$__state/serve.$i.rc" ) > /dev/null 2>&1 < /dev/null &
  for _ in $(seq 1 1200); do
    health=$(sed -n 's|^  Health: *\(http[^ ]*\).*|\1|p' "$log" 2> /dev/null || true)
    [ -n "$health" ] && break
    [ -f "$__state/serve.$i.rc" ] && { cat "$log" >&2; return 1; }
    sleep 0.05
  done
  [ -n "$health" ] || { echo "doc-test: no banner from switchboard $* within 60 s" >&2; return 1; }
  # Wait for the end of the banner (its development part comes after a token is signed):
  # the server handles SIGTERM from there on. A request is a turn of its event loop.
  for n in $(seq 1 100); do
    command curl -s -o /dev/null "$health" || true
    grep -q '^  Try it:' "$log" && break
    [ "$n" -ge 3 ] && ! grep -q '^Development mode' "$log" && break
    sleep 0.05
  done
  command curl -s -o /dev/null "$health" || true
  cat "$log"
}
redis-server() {
  __redis=$((__redis + 1)); local i=$__redis port=6379 prev=""
  for a in "$@"; do [ "$prev" = --port ] && port="$a"; prev="$a"; done
  ( set +e; command redis-server "$@" > "$__state/redis.$i.log" 2>&1 < /dev/null & echo $! > "$__state/redis.$i.pid"; wait $! ) > /dev/null 2>&1 < /dev/null &
  for _ in $(seq 1 200); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.05
  done
  echo "doc-test: redis-server on port $port did not answer" >&2; return 1
}
set -e -o pipefail
