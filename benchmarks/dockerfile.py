"""Writes (or with --check, compares) the Dockerfile: the workflow's conda envs (envs/*.yaml,
from their explicit pin lists when `bash benchmarks/envs.sh pin` made them) created in one
image on a CUDA base, laid out as `snakemake --containerize` lays them out, so that
`snakemake --sdm conda apptainer` finds each env in the image (the Snakefile's
`containerized:`) instead of building it.

Snakemake looks an env up at /conda-envs/<content hash>: the md5 of the env's pin list (if
any) and its file, as Snakemake's Env.content_hash computes it; the image's label holds the
sha256 of all env files, as `--containerize` writes it. `--containerize` itself needs conda
installed on the machine that runs it, so this script computes the same from the files.

    python benchmarks/dockerfile.py            # rewrite Dockerfile after an env changed
    python benchmarks/dockerfile.py --check    # exit 1 when Dockerfile is out of date
"""

import argparse
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONDA_ENV_PATH = "/conda-envs"
PLATFORM = "linux-64"
# conda (Snakemake runs `conda info` and the env's activate script inside the image) from
# the Miniforge image, on NVIDIA's CUDA base (its labels let `docker --gpus` and
# `apptainer --nv` bring in the host's driver; conda-forge's pytorch brings CUDA itself).
MINIFORGE = "condaforge/miniforge3:25.3.1-0"
CUDA_BASE = "nvidia/cuda:12.8.1-base-ubuntu24.04"


def pin_file(env: Path) -> Path:
    return env.with_name(f"{env.stem}.{PLATFORM}.pin.txt")


def content_hash(env: Path) -> str:
    """Where Snakemake looks for ``env`` in the image: md5 of its pin list, then its file."""
    digest = hashlib.md5(usedforsecurity=False)
    if pin_file(env).is_file():
        digest.update(pin_file(env).read_bytes())
    digest.update(env.read_bytes())
    return digest.hexdigest()


def dockerfile(repo: Path = REPO) -> str:
    envs = sorted((repo / "envs").glob("*.yaml"))
    overall = hashlib.sha256()
    for env in envs:
        overall.update(env.read_bytes())
    lines = [
        "# The workflow's software in one image, for `snakemake --sdm conda apptainer`",
        "# (docs/deployment.md). Written by benchmarks/dockerfile.py from envs/: do not edit.",
        f"FROM {MINIFORGE} AS conda",
        f"FROM {CUDA_BASE}",
        "COPY --from=conda /opt/conda /opt/conda",
        "ENV PATH=/opt/conda/bin:$PATH",
        'LABEL io.github.snakemake.containerized="true"',
        f'LABEL io.github.snakemake.conda_env_hash="{overall.hexdigest()}"',
    ]
    create = []
    for env in envs:
        prefix = f"{CONDA_ENV_PATH}/{content_hash(env)}"
        source = env.relative_to(repo).as_posix()
        lines += ["", "# Conda environment:", f"#   source: {source}", f"#   prefix: {prefix}"]
        lines += [f"RUN mkdir -p {prefix}", f"COPY {source} {prefix}/environment.yaml"]
        if pin_file(env).is_file():
            pins = pin_file(env).relative_to(repo).as_posix()
            lines.append(f"COPY {pins} {prefix}/pins.txt")
            create.append(f"conda create --yes --prefix {prefix} --file {prefix}/pins.txt")
        else:
            create.append(f"conda env create --yes --prefix {prefix} --file {prefix}/environment.yaml")
    lines += ["", "# Step 2: Generate conda environments"]
    lines.append("RUN " + " && \\\n    ".join([*create, "conda clean --all --yes"]))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the Dockerfile is out of date")
    args = parser.parse_args()
    path, wanted = REPO / "Dockerfile", dockerfile()
    if args.check:
        if not path.is_file() or path.read_text() != wanted:
            print(f"{path} is out of date with envs/: run python benchmarks/dockerfile.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
