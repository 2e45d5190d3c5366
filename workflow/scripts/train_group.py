from srstudy.base.gpu_slots import place_on_gpu
from srstudy.base.joblog import logged
from srstudy.nets.registry import resolve_spec
from srstudy.train.fused import Member, fuse_options, train_group
from srstudy.train.loop import execution_options

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    place_on_gpu()  # before CUDA starts
    members = [
        Member(
            sm.input[f"train_{index}"],
            sm.input[f"eval_{index}"],
            resolve_spec(member["spec"]),
            seed=int(member["seed"]),
            scale=int(member["scale"]),
            name=member["variant"],
            model_path=model,
            log_path=log,
        )
        for index, (member, model, log) in enumerate(
            zip(sm.params.members, sm.output.models, sm.output.logs, strict=True)
        )
    ]
    train_group(
        members,
        threads=sm.threads,
        precision=sm.params.precision,
        tf32=sm.params.tf32,
        **execution_options(sm.config),
        **fuse_options(sm.config),
    )
