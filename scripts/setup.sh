#!/usr/bin/env bash
# Prepares a checkout to run: the Python virtualenv (.venv, the package installed editable with
# its test and deploy extras, pinned by constraints.txt; NETFLIX_SETUP_EXTRAS picks others), the
# JVM jars resolved by Maven from jvm/*/pom.xml into .jars/spark, .jars/gcp and .jars/kafka, and
# what only the tests use (NETFLIX_SETUP_TEST_TOOLS=0 skips it, as the Docker image does): the
# BigQuery emulator's own virtualenv (.venv-bqemu), Debian's chromium for the dashboard tests and
# Debian's docker-compose, whose parser validates docker-compose.yml.
#
# Idempotent and fast when nothing changed: each step records a hash of its inputs (a stamp) and
# is skipped while they stay the same. Needs python3.11, Java 17 and Maven on PATH; as root it
# installs the Debian packages when they are missing. Run it from anywhere: bash scripts/setup.sh
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

extras=${NETFLIX_SETUP_EXTRAS:-test,deploy}
test_tools=${NETFLIX_SETUP_TEST_TOOLS:-1}
# Inside .venv, so a recreated virtualenv is always installed afresh.
pip_stamp=.venv/.netflix-lambda-install.sha256
pip_inputs=$( (cat pyproject.toml constraints.txt; echo "$extras") | sha256sum | cut -d' ' -f1)
if stamp_matches "$pip_stamp" "$pip_inputs"; then
    say "python packages up to date"
else
    started=$SECONDS
    run_quietly .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$extras]"
    echo "$pip_inputs" >"$pip_stamp"
    say "installed python packages ($((SECONDS - started)) s)"
fi

# --- Debian packages (tests) ---------------------------------------------------------------------
# The dashboard tests drive Debian's Chromium through Playwright (no browser download); the
# deployment test validates docker-compose.yml with Debian's docker-compose (no Docker engine).
debian_packages=()
if [[ "$test_tools" != 0 ]]; then
    [[ -x /usr/bin/chromium ]] || debian_packages+=(chromium)
    command -v docker-compose >/dev/null || debian_packages+=(docker-compose)
fi
if (( ${#debian_packages[@]} )); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "setup: missing Debian package(s) ${debian_packages[*]}: install them (as root: apt-get install ${debian_packages[*]})" >&2
        exit 1
    fi
    started=$SECONDS
    run_quietly apt-get update -q
    run_quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${debian_packages[@]}"
    say "installed ${debian_packages[*]} from Debian ($((SECONDS - started)) s)"
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
if [[ "$test_tools" == 0 ]]; then
    say "$bq_venv skipped (NETFLIX_SETUP_TEST_TOOLS=0)"
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
