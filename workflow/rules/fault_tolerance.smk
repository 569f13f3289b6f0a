# Zlokapa et al. 2022: fault-tolerant Boolean computation with noisy neurons and the grid
# cells' error-correcting code. A simulation (no data); the science is
# brainlatent.fault_tolerance, the figures are fault_tolerance_phase and _scaling.

from brainlatent.plan import FAULT_TOLERANCE_TABLES


rule simulate_fault_tolerance:
    input:
        script=script("simulate_fault_tolerance"),
        package=package("simulate_fault_tolerance"),
    output:
        phase=FAULT_TOLERANCE_TABLES["phase"],
        scaling=FAULT_TOLERANCE_TABLES["scaling"],
    log:
        "logs/simulate_fault_tolerance/fault_tolerance.log",
    benchmark:
        "logs/benchmarks/simulate_fault_tolerance/fault_tolerance.tsv"
    conda:
        "../../envs/learn.yaml"
    threads: 1
    params:
        settings=as_json(config["fault_tolerance"]),
    shell:
        "python {input.script} --settings {params.settings:q}"
        " --phase {output.phase:q} --scaling {output.scaling:q} > {log} 2>&1"
