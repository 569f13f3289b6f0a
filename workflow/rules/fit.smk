# fit: the ridge baseline per subject, the brain module across subjects.


rule fit_ridge:
    input:
        script=script("fit_ridge"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        features=f"{MEG_ROOT}/features/{{image_model}}.npy",
        index=f"{MEG_ROOT}/features/{{image_model}}.parquet",
    output:
        model=f"{MEG_ROOT}/sub-{{subject}}/ridge/{{image_model}}.joblib",
    log:
        "logs/fit_ridge/sub-{subject}_{image_model}.log",
    benchmark:
        "benchmarks/fit_ridge/sub-{subject}_{image_model}.tsv"
    conda:
        "../../envs/learn.yaml"
    resources:
        mem_mb=mem_from_inputs(3, 1500),  # flattened epochs, float64 solves
    params:
        alphas=MEG["ridge"]["alphas"],
    shell:
        "python {input.script} --epochs {input.epochs:q} --trials {input.trials:q}"
        " --features {input.features:q} --index {input.index:q} --alphas {params.alphas}"
        " --model {output.model:q} > {log} 2>&1"


rule fit_brain_module:
    input:
        script=script("fit_brain_module"),
        epochs=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy", subject=SUBJECTS
        ),
        trials=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet", subject=SUBJECTS
        ),
        info=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json", subject=SUBJECTS
        ),
        features=f"{MEG_ROOT}/features/{{image_model}}.npy",
        index=f"{MEG_ROOT}/features/{{image_model}}.parquet",
    output:
        model=f"{MEG_ROOT}/brain_module/{{image_model}}/model.pt",
        history=f"{MEG_ROOT}/brain_module/{{image_model}}/history.parquet",
    log:
        "logs/fit_brain_module/{image_model}.log",
    benchmark:
        "benchmarks/fit_brain_module/{image_model}.tsv"
    priority: 50  # long: started as soon as the MEG is preprocessed
    conda:
        "../../envs/torch.yaml"
    threads: 1  # 2 threads reach only 1.3×: one each, run beside the other jobs
    resources:
        mem_mb=mem_from_inputs(1.5, 3000),  # every subject's epochs
    params:
        hyperparameters=as_json(MEG["brain_module"]),
        seed=config["seed"],
    shell:
        "python {input.script} --epochs {input.epochs:q} --trials {input.trials:q}"
        " --info {input.info:q} --features {input.features:q} --index {input.index:q}"
        " --hyperparameters {params.hyperparameters:q} --seed {params.seed}"
        " --threads {threads} --model {output.model:q} --history {output.history:q}"
        " > {log} 2>&1"
