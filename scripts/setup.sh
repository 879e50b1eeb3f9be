#!/usr/bin/env bash
# Prepares a checkout to run: the Python virtualenv (.venv, the package installed editable with
# its test extras, pinned by constraints.txt), the JVM jars resolved by Maven from jvm/*/pom.xml
# into .jars/spark, .jars/gcp and .jars/kafka, the BigQuery emulator's own virtualenv
# (.venv-bqemu, for the tests; NETFLIX_SETUP_BQEMU=0 skips it) and Debian's chromium for the
# dashboard tests.
#
# Idempotent and fast when nothing changed: each step records a hash of its inputs (a stamp) and
# is skipped while they stay the same. Needs python3.11, Java 17 and Maven on PATH; as root it
# installs Debian's chromium when it is missing. Run it from anywhere: bash scripts/setup.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "setup: $*"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_matches() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }
# Runs a chatty command (build backend warnings, Maven's terminal codes) with its output kept
# aside, and shows that output only when the command fails.
run_quietly() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "setup: failed: $*" >&2
        exit 1
    fi
    rm -f "$log"
}

for tool in python3.11 java mvn; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is not on PATH" >&2; exit 1; }
done

# --- Python ------------------------------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
    python3.11 -m venv .venv
    say "created .venv with $(.venv/bin/python --version)"
fi

# Inside .venv, so a recreated virtualenv is always installed afresh.
pip_stamp=.venv/.netflix-lambda-install.sha256
pip_inputs=$(hash_of pyproject.toml constraints.txt)
if stamp_matches "$pip_stamp" "$pip_inputs"; then
    say "python packages up to date"
else
    started=$SECONDS
    run_quietly .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
    echo "$pip_inputs" >"$pip_stamp"
    say "installed python packages ($((SECONDS - started)) s)"
fi

# --- Debian packages --------------------------------------------------------------------------
# The dashboard tests drive Debian's Chromium through Playwright (no browser download).
if [[ ! -x /usr/bin/chromium ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "setup: /usr/bin/chromium is missing: install Debian's chromium package (as root: apt-get install chromium)" >&2
        exit 1
    fi
    started=$SECONDS
    run_quietly apt-get update -q
    run_quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
    say "installed chromium from Debian ($((SECONDS - started)) s)"
fi

# --- JVM jars ----------------------------------------------------------------------------------
for name in spark gcp kafka; do
    pom=jvm/$name/pom.xml
    out=.jars/$name
    # A dotfile: neither Spark's jar list (*.jar) nor the broker's classpath (dir/*) picks it up.
    jar_stamp=$out/.pom.sha256
    pom_hash=$(hash_of "$pom")
    if stamp_matches "$jar_stamp" "$pom_hash" && compgen -G "$out/*.jar" >/dev/null; then
        say "$out up to date"
        continue
    fi
    started=$SECONDS
    # Emptied first so that jars a previous version of the pom brought in do not stay behind.
    rm -rf "$out"
    mkdir -p "$out"
    run_quietly mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$PWD/$out"
    echo "$pom_hash" >"$jar_stamp"
    count=$(find "$out" -name '*.jar' | wc -l)
    say "resolved $out: $count jars, $(du -sh "$out" | cut -f1) ($((SECONDS - started)) s)"
done

# --- BigQuery emulator (tests) -----------------------------------------------------------------
# Its own virtualenv: bqemulator's pins clash with the project's (scripts/bqemu-requirements.txt).
# DuckDB's spatial and avro extensions are installed from their PyPI wheels into
# .venv-bqemu/duckdb-home/.duckdb/extensions; netflix_devtools/emulators.py starts the emulator
# with that folder as HOME, so its INSTALL finds them there and downloads nothing.
bq_venv=.venv-bqemu
bq_home=$bq_venv/duckdb-home
# Inside the virtualenv, like the .venv stamp.
bq_stamp=$bq_venv/.bqemu-install.sha256
bq_inputs=$(hash_of scripts/bqemu-requirements.txt scripts/install_duckdb_extensions.py)
if [[ "${NETFLIX_SETUP_BQEMU:-1}" == 0 ]]; then
    say "$bq_venv skipped (NETFLIX_SETUP_BQEMU=0)"
elif stamp_matches "$bq_stamp" "$bq_inputs" && compgen -G "$bq_home/.duckdb/extensions/*/*/spatial.duckdb_extension" >/dev/null; then
    say "$bq_venv up to date"
else
    started=$SECONDS
    if [[ ! -x $bq_venv/bin/python ]]; then
        python3.11 -m venv "$bq_venv"
        say "created $bq_venv with $($bq_venv/bin/python --version)"
    fi
    run_quietly "$bq_venv/bin/python" -m pip install -q --disable-pip-version-check -r scripts/bqemu-requirements.txt
    rm -rf "$bq_home"
    mkdir -p "$bq_home"
    run_quietly env HOME="$PWD/$bq_home" "$bq_venv/bin/python" scripts/install_duckdb_extensions.py spatial avro
    echo "$bq_inputs" >"$bq_stamp"
    say "installed $bq_venv: bqemulator $($bq_venv/bin/python -c 'import importlib.metadata as m; print(m.version("bqemulator"))'), duckdb extensions in $bq_home ($((SECONDS - started)) s)"
fi
