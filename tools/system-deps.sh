#!/usr/bin/env bash
# Install the Debian packages that the tests, the demo or the benchmarks need,
# only when they are missing:  tools/system-deps.sh test|demo|bench
#   test:  chromium (browser tests), nginx and apache2 (deploy tests), wrk (bench smoke test)
#   demo:  nothing beyond Python and node
#   bench: wrk (load generator)
set -euo pipefail

want=()
need() {  # need <command> <debian package>
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || want+=("$2")
}
case "${1:-test}" in
    test)  need chromium chromium; need nginx nginx; need apache2 apache2
           need curl curl; need openssl openssl; need wrk wrk ;;
    demo)  ;;
    bench) need wrk wrk ;;
    *) echo "usage: $0 test|demo|bench" >&2; exit 2 ;;
esac
[ ${#want[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "system-deps: missing ${want[*]}; install them as root: apt-get install ${want[*]}" >&2
        exit 1
    fi
fi
echo "system-deps: installing ${want[*]}"
# do not let the packages start system services (apache2/nginx on port 80)
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}"
