# figures: one script per figure, reading only the metrics tables.


rule plot_meg_retrieval:
    input:
        script=script("plot_meg_retrieval"),
        metrics=f"{MEG_ROOT}/metrics/retrieval.parquet",
    output:
        pdf="results/figures/meg_retrieval.pdf",
        png=report(
            "results/figures/meg_retrieval.png",
            caption="../report/meg_retrieval.rst",
            category="THINGS-MEG",
        ),
    log:
        "logs/plot_meg_retrieval/meg_retrieval.log",
    benchmark:
        "benchmarks/plot_meg_retrieval/meg_retrieval.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --metrics {input.metrics:q} --pdf {output.pdf:q}"
        " --png {output.png:q} > {log} 2>&1"


rule plot_meg_timecourse:
    input:
        script=script("plot_meg_timecourse"),
        metrics=f"{MEG_ROOT}/metrics/timecourse.parquet",
    output:
        pdf="results/figures/meg_timecourse.pdf",
        png=report(
            "results/figures/meg_timecourse.png",
            caption="../report/meg_timecourse.rst",
            category="THINGS-MEG",
        ),
    log:
        "logs/plot_meg_timecourse/meg_timecourse.log",
    benchmark:
        "benchmarks/plot_meg_timecourse/meg_timecourse.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --metrics {input.metrics:q} --pdf {output.pdf:q}"
        " --png {output.png:q} > {log} 2>&1"
