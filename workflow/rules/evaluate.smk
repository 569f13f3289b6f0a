# evaluate: retrieval of the test images, over the whole epoch and in sliding windows.


rule evaluate_retrieval:
    input:
        script=script("evaluate_retrieval"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        features=expand(
            f"{MEG_ROOT}/features/{{image_model}}.npy", image_model=IMAGE_MODELS
        ),
        index=expand(
            f"{MEG_ROOT}/features/{{image_model}}.parquet", image_model=IMAGE_MODELS
        ),
        ridge=expand(
            f"{MEG_ROOT}/sub-{{{{subject}}}}/ridge/{{image_model}}.joblib",
            image_model=IMAGE_MODELS,
        ),
        brain_module=expand(
            f"{MEG_ROOT}/brain_module/{{image_model}}/model.pt",
            image_model=IMAGE_MODELS,
        ),
    output:
        metrics=f"{MEG_ROOT}/sub-{{subject}}/evaluate/retrieval.parquet",
    log:
        "logs/evaluate_retrieval/sub-{subject}.log",
    benchmark:
        "benchmarks/evaluate_retrieval/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=mem_from_inputs(2, 1500),
    params:
        image_models=IMAGE_MODELS,
        subject_index=lambda wildcards: SUBJECTS.index(wildcards.subject),
        top_k=MEG["evaluate"]["top_k"],
    shell:
        "python {input.script} --subject {wildcards.subject}"
        " --subject-index {params.subject_index} --epochs {input.epochs:q}"
        " --trials {input.trials:q} --image-models {params.image_models}"
        " --features {input.features:q} --index {input.index:q} --ridge {input.ridge:q}"
        " --brain-module {input.brain_module:q} --top-k {params.top_k}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule evaluate_timecourse:
    input:
        script=script("evaluate_timecourse"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        features=expand(
            f"{MEG_ROOT}/features/{{image_model}}.npy", image_model=IMAGE_MODELS
        ),
        index=expand(
            f"{MEG_ROOT}/features/{{image_model}}.parquet", image_model=IMAGE_MODELS
        ),
    output:
        metrics=f"{MEG_ROOT}/sub-{{subject}}/evaluate/timecourse.parquet",
    log:
        "logs/evaluate_timecourse/sub-{subject}.log",
    benchmark:
        "benchmarks/evaluate_timecourse/sub-{subject}.tsv"
    conda:
        "../../envs/learn.yaml"
    resources:
        mem_mb=mem_from_inputs(2, 1500),
    params:
        image_models=IMAGE_MODELS,
        alphas=MEG["ridge"]["alphas"],
        length=MEG["evaluate"]["window_length"],
        step=MEG["evaluate"]["window_step"],
        top_k=MEG["evaluate"]["top_k"],
    shell:
        "python {input.script} --subject {wildcards.subject} --epochs {input.epochs:q}"
        " --trials {input.trials:q} --info {input.info:q} --image-models {params.image_models}"
        " --features {input.features:q} --index {input.index:q} --alphas {params.alphas}"
        " --window-length {params.length} --window-step {params.step} --top-k {params.top_k}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule collect_metrics:
    input:
        script=script("collect_metrics"),
        tables=expand(
            f"{MEG_ROOT}/sub-{{subject}}/evaluate/{{{{analysis}}}}.parquet",
            subject=SUBJECTS,
        ),
    output:
        metrics=f"{MEG_ROOT}/metrics/{{analysis}}.parquet",
    log:
        "logs/collect_metrics/{analysis}.log",
    benchmark:
        "benchmarks/collect_metrics/{analysis}.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --tables {input.tables:q} --metrics {output.metrics:q}"
        " > {log} 2>&1"
