from srstudy.base.joblog import logged
from srstudy.report.front_page import write_front_page

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0]):
    write_front_page(
        sm.config,
        training_csv=sm.input.training,
        test_sets={
            name: {"video": video, "frames": frames, "comparisons": comparisons}
            for name, video, frames, comparisons in zip(
                sm.params.test_sets, sm.params.videos, sm.input.frames, sm.input.comparisons, strict=True
            )
        },
        rst=sm.output.rst,
        html_path=sm.output.html,
    )
