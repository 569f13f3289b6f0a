import re

# Pretrained image-model weights named in the config but not on disk yet: the THINGS-MEG
# and GOD chains embed their stimuli with them.
VGG19_TO_FETCH = [
    path for path, model in PLAN.weights_to_fetch.items() if model == "vgg19"
]
FOLDERS_TO_FETCH = {p: m for p, m in PLAN.weights_to_fetch.items() if m != "vgg19"}

if VGG19_TO_FETCH:

    rule download_vgg19_weights:
        input:
            script=script("download_weights"),
        output:
            weights=VGG19_TO_FETCH[0],
        log:
            "logs/download_weights/vgg19.log",
        benchmark:
            "logs/benchmarks/download_weights/vgg19.tsv"
        localrule: True
        conda:
            "../../envs/torch.yaml"
        resources:
            downloads=1,
        shell:
            "python {input.script} --model vgg19 --dest {output.weights:q} > {log} 2>&1"


if FOLDERS_TO_FETCH:

    rule download_model_weights:
        input:
            script=script("download_weights"),
        output:
            weights=directory("{weights_folder}"),
        log:
            "logs/download_weights{weights_folder}.log",
        benchmark:
            "logs/benchmarks/download_weights{weights_folder}.tsv"
        wildcard_constraints:
            weights_folder="|".join(re.escape(p) for p in FOLDERS_TO_FETCH),
        localrule: True
        conda:
            "../../envs/torch.yaml"
        resources:
            downloads=1,
        params:
            model=lambda wildcards: FOLDERS_TO_FETCH[wildcards.weights_folder],
        shell:
            "python {input.script} --model {params.model} --dest {output.weights:q}"
            " > {log} 2>&1"
