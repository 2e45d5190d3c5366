# The load scenario of tests/slurm/faults.py: config["jobs"] small jobs, each a SLURM job
# of its own through the project's profile, to see every one complete and the controller
# polled at the profile's rate. Not the study's rules: each of those starts torch and
# reads the h5 sets (seconds of CPU a job), too much for 100 jobs on CI's 2 cores.


rule all:
    input:
        expand("load/{i}.txt", i=range(int(config["jobs"]))),


rule small:
    output:
        "load/{i}.txt",
    shell:
        "echo {wildcards.i} > {output}"
