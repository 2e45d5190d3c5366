#!/usr/bin/env bash
# The workflow's software, pinned and checked (docs/deployment.md):
#   bash benchmarks/envs.sh lock    envs/pip-constraints.txt: run.sh's pip path, every
#                                   package at one version (uv, from PyPI; torch at run.sh's)
#   bash benchmarks/envs.sh pin     envs/*.linux-64.pin.txt: the conda envs as explicit
#                                   package lists (snakedeploy pin-conda-envs; needs mamba
#                                   or conda and conda-forge)
#   bash benchmarks/envs.sh test    creates the conda envs (--sdm conda, from the pins when
#                                   present) and runs the CI config end to end in them
# Opt-in, not part of the test suite: `pin` and `test` download a few GB from conda-forge.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${TOOLS:-.venv-tools}   # uv and snakedeploy, apart from the study's .venv
tools() {
  [[ -x $TOOLS/bin/uv && -x $TOOLS/bin/snakedeploy ]] || {
    python3 -m venv "$TOOLS" && "$TOOLS/bin/pip" install -q uv snakedeploy
  }
}

# torch at the version run.sh installs first (TORCH_SPEC's default).
torch_pin() { sed -n 's/.*TORCH_SPEC:-\(torch==[0-9.]*\)}.*/\1/p' run.sh | head -n 1; }

case ${1:-} in
  lock)
    tools
    pins=$(mktemp -d)
    trap 'rm -rf "$pins"' EXIT
    torch_pin >"$pins/torch.txt"
    "$TOOLS/bin/uv" pip compile pyproject.toml --extra test --extra slurm --constraint "$pins/torch.txt" \
      --python-version 3.11 --universal --no-header --annotation-style line --quiet -o "$pins/lock.txt"
    {
      echo "# run.sh's pip constraints: every package of .[test,slurm] at one version, for"
      echo "# Python 3.11 and later on any platform. Made by: bash benchmarks/envs.sh lock"
      sed "s| *# via.*||" "$pins/lock.txt"
    } >envs/pip-constraints.txt
    echo "envs/pip-constraints.txt: $(grep -c '==' envs/pip-constraints.txt) pins"
    ;;
  pin)
    tools
    frontend=$(command -v mamba || command -v conda || true)
    [[ -n $frontend ]] || {
      echo "error: 'pin' needs mamba or conda on PATH (and conda-forge reachable)" >&2
      exit 1
    }
    "$TOOLS/bin/snakedeploy" pin-conda-envs --conda-frontend "$(basename "$frontend")" envs/*.yaml
    ;;
  test)
    work=$(mktemp -d)
    .venv/bin/snakemake --sdm conda --conda-create-envs-only --cores 1 --directory "$work" \
      --configfile .test/config/config.yaml
    .venv/bin/snakemake --sdm conda --cores "${CORES:-2}" --resources gpu=1 --directory "$work" \
      --configfile .test/config/config.yaml
    echo "conda envs: the CI config ran end to end in $work"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
