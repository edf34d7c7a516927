#!/usr/bin/env bash
# Renders an HTML file in headless Chromium (Debian's `chromium`): a
# screenshot, the DOM after parsing, and the browser's log (console messages
# appear there as "CONSOLE" lines). Used by tests/cli_report.sh and to make
# docs/report.png.
#
#   tools/render_html.sh PAGE.html OUT_PREFIX [WIDTH] [HEIGHT]
#     -> OUT_PREFIX.png, OUT_PREFIX.dom.html, OUT_PREFIX.log   (default 1280 x 2400)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: tools/render_html.sh PAGE.html OUT_PREFIX [WIDTH] [HEIGHT]" >&2; exit 2; }
page=$(readlink -f "$1"); out=$2; w=${3:-1280}; h=${4:-2400}
[ -f "$page" ] || { echo "tools/render_html.sh: $1: no such file" >&2; exit 2; }
command -v chromium > /dev/null || { echo "tools/render_html.sh: chromium not found (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d); trap 'rm -rf "$profile"' EXIT
# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions
       --user-data-dir="$profile" --enable-logging=stderr --v=0 --virtual-time-budget=3000)
chromium "${flags[@]}" --window-size="$w,$h" --screenshot="$out.png" "file://$page" 2> "$out.log" > /dev/null
chromium "${flags[@]}" --dump-dom "file://$page" > "$out.dom.html" 2>> "$out.log"
[ -s "$out.png" ] && [ -s "$out.dom.html" ] || { cat "$out.log" >&2; echo "tools/render_html.sh: chromium wrote nothing" >&2; exit 1; }
