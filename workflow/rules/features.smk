# features: one embedding per stimulus image and image model.


rule embed_images:
    input:
        unpack(weights_input),
        script=script("embed_images"),
        stimuli=stimuli_dir(),
    output:
        features=f"{MEG_ROOT}/features/{{image_model}}.npy",
        index=f"{MEG_ROOT}/features/{{image_model}}.parquet",
    log:
        "logs/embed_images/{image_model}.log",
    benchmark:
        "benchmarks/embed_images/{image_model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=image_model_mem_mb,
    params:
        weights=lambda wildcards, input: input.get("weights", ""),
    shell:
        "python {input.script} --stimuli {input.stimuli:q} --model {wildcards.image_model}"
        " --weights={params.weights:q} --features {output.features:q} --index {output.index:q}"
        " > {log} 2>&1"
