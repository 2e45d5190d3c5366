# The workflow's software in one image, for `snakemake --sdm conda apptainer`
# (docs/deployment.md). Written by benchmarks/dockerfile.py from envs/: do not edit.
FROM condaforge/miniforge3:25.3.1-0 AS conda
FROM nvidia/cuda:12.8.1-base-ubuntu24.04
COPY --from=conda /opt/conda /opt/conda
ENV PATH=/opt/conda/bin:$PATH
LABEL io.github.snakemake.containerized="true"
LABEL io.github.snakemake.conda_env_hash="5c353b17f31adae35d22c1adeaf9627b4fc86cb2ed2ddcbefa2bc8e6fb85213e"

# Conda environment:
#   source: envs/report.yaml
#   prefix: /conda-envs/5e8ce54ba94959b41eb6f77af92df33b
RUN mkdir -p /conda-envs/5e8ce54ba94959b41eb6f77af92df33b
COPY envs/report.yaml /conda-envs/5e8ce54ba94959b41eb6f77af92df33b/environment.yaml

# Conda environment:
#   source: envs/torch.yaml
#   prefix: /conda-envs/5b96882c5f59d113b4efc75b3e32b9a8
RUN mkdir -p /conda-envs/5b96882c5f59d113b4efc75b3e32b9a8
COPY envs/torch.yaml /conda-envs/5b96882c5f59d113b4efc75b3e32b9a8/environment.yaml

# Conda environment:
#   source: envs/video.yaml
#   prefix: /conda-envs/c2f1d5fcce5995f01c357bf3bdeb5313
RUN mkdir -p /conda-envs/c2f1d5fcce5995f01c357bf3bdeb5313
COPY envs/video.yaml /conda-envs/c2f1d5fcce5995f01c357bf3bdeb5313/environment.yaml

# Step 2: Generate conda environments
RUN conda env create --yes --prefix /conda-envs/5e8ce54ba94959b41eb6f77af92df33b --file /conda-envs/5e8ce54ba94959b41eb6f77af92df33b/environment.yaml && \
    conda env create --yes --prefix /conda-envs/5b96882c5f59d113b4efc75b3e32b9a8 --file /conda-envs/5b96882c5f59d113b4efc75b3e32b9a8/environment.yaml && \
    conda env create --yes --prefix /conda-envs/c2f1d5fcce5995f01c357bf3bdeb5313 --file /conda-envs/c2f1d5fcce5995f01c357bf3bdeb5313/environment.yaml && \
    conda clean --all --yes
