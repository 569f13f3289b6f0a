# brainlatent: brain-decoding results reproduced end to end.
# Setup only: the rules live in workflow/rules/, the science in src/brainlatent/.

import sys

from snakemake.utils import min_version

# The checkout's package plans its jobs, as its jobs run it (not one installed elsewhere).
sys.path.insert(0, f"{workflow.basedir}/src")

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"  # the checkout's, also with --directory


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/things_meg.smk"
include: "workflow/rules/meg_generation.smk"
include: "workflow/rules/allen_calcium.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/fault_tolerance.smk"
include: "workflow/rules/god_fmri.smk"
include: "workflow/rules/motor.smk"
include: "workflow/rules/recording.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/scorecard.smk"
include: "workflow/rules/benchmarks.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
