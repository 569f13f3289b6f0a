# DAE-NR on the Allen natural scenes: mean response per image, fit with and without the
# neural term, plot reconstructions and scores.


rule preprocess_scenes:
    input:
        script=script("preprocess_scenes"),
        nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
    output:
        scenes=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/scenes.npz",
    log:
        "logs/preprocess_scenes/sub-{mouse}.log",
    benchmark:
        "benchmarks/preprocess_scenes/sub-{mouse}.tsv"
    conda:
        "../../envs/calcium.yaml"
    resources:
        mem_mb=mem_from_inputs(3, 1000),
    params:
        size=lambda wildcards: (
            f"--image-size {CALCIUM['daenr']['image_size']}"
            if CALCIUM["daenr"].get("image_size")
            else ""
        ),
    shell:
        "python {input.script} --nwb {input.nwb:q} --scenes {output.scenes:q}"
        " {params.size} > {log} 2>&1"


rule fit_daenr:
    input:
        script=script("fit_daenr"),
        # every session with natural scenes: the simulated mice, or the StimB sessions
        scenes=expand(
            f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/scenes.npz", mouse=SCENE_MICE
        ),
    output:
        metrics=f"{CALCIUM_ROOT}/daenr/metrics.parquet",
        reconstructions=f"{CALCIUM_ROOT}/daenr/reconstructions.npz",
    log:
        "logs/fit_daenr/daenr.log",
    benchmark:
        "benchmarks/fit_daenr/daenr.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(3, 2000),
    params:
        daenr=as_json(CALCIUM["daenr"]),
        seed=config["seed"],
    shell:
        "python {input.script} --scenes {input.scenes:q} --daenr {params.daenr:q}"
        " --seed {params.seed} --threads {threads} --metrics {output.metrics:q}"
        " --reconstructions {output.reconstructions:q} > {log} 2>&1"


rule plot_daenr:
    input:
        script=script("plot_daenr"),
        metrics=f"{CALCIUM_ROOT}/daenr/metrics.parquet",
        reconstructions=f"{CALCIUM_ROOT}/daenr/reconstructions.npz",
    output:
        pdf="results/figures/daenr.pdf",
        png=report(
            "results/figures/daenr.png",
            caption="../report/daenr.rst",
            category="Allen calcium (CEBRA)",
        ),
    log:
        "logs/plot_daenr/daenr.log",
    benchmark:
        "benchmarks/plot_daenr/daenr.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --metrics {input.metrics:q}"
        " --reconstructions {input.reconstructions:q} --pdf {output.pdf:q}"
        " --png {output.png:q} > {log} 2>&1"
