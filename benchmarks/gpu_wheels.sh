#!/usr/bin/env bash
# Prepares wheelhouse/ (git-ignored) for benchmarks/gpu_check.sh on an offline GPU machine
# that has Python 3.12 with CUDA torch, h5py, scikit-image, pandas, matplotlib, imageio,
# Pillow, tqdm and PyYAML, but not what else the workflow and its tests import. Run it
# here, online, before handing the repository to that machine (with wheelhouse carried).
#
#   bash benchmarks/gpu_wheels.sh            # downloads, drops what the machine has, checks the size
#
# Environment: PIP (default .venv/bin/pip), MAX_MB (default 50: the machine takes 64 MiB
# per call, this repository included).
set -euo pipefail
cd "$(dirname "$0")/.."

pip=${PIP:-.venv/bin/pip}
max_mb=${MAX_MB:-50}
out=wheelhouse
# What the workflow, its tests and the check need beyond the machine's own packages.
# imageio-ffmpeg 0.6.0 (ffmpeg 7; the workflow needs >= 5.1): its wheel is 29 MB, 0.8's 68 MB.
wanted=(
  "snakemake>=9.20,<10" "ffmpeg-python>=0.2,<0.3" "imageio-ffmpeg==0.6.0" "jsonschema>=4.20,<5"
  "scikit-video>=1.1.11,<1.2" "pytest>=8,<10"
)
# Already on the GPU machine (with their own dependencies): not carried. Small ones whose
# version matters (packaging < 26 for Snakemake, typing_extensions, jinja2) are carried. Nor is pulp
# (16 MB): Snakemake's ILP scheduler needs it, gpu_check.sh runs --scheduler greedy.
present='^(torch|nvidia_.*|triton|numpy|scipy|pandas|h5py|scikit_image|imageio|pillow|matplotlib|tqdm|pyyaml|'
present+='networkx|sympy|mpmath|filelock|fsspec|lazy_loader|tifffile|'
present+='python_dateutil|pytz|tzdata|six|contourpy|cycler|fonttools|kiwisolver|pyparsing|setuptools|pulp)-'

# Pure-Python dependencies published only as source: built into wheels here first.
source_only=("connection_pool>=0.0.3")

rm -rf "$out"
mkdir -p "$out"
"$pip" wheel -q --no-deps -w "$out" "${source_only[@]}"
"$pip" download -q -d "$out" --find-links "$out" --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 \
  --platform manylinux2010_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 \
  "${wanted[@]}"
for wheel in "$out"/*.whl; do
  name=$(basename "$wheel" | tr '[:upper:]' '[:lower:]')
  if [[ $name =~ $present ]]; then rm "$wheel"; fi
done
ls -1 "$out"
size_kb=$(du -sk "$out" | cut -f1)
echo "wheelhouse: $(ls "$out" | wc -l) wheels, $((size_kb / 1024)) MiB"
if ((size_kb > max_mb * 1024)); then
  echo "error: wheelhouse is over ${max_mb} MiB; the GPU machine takes 64 MiB per call, repository included" >&2
  exit 1
fi
