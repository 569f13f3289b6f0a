# preprocess: run-by-run MNE preprocessing into memory-mappable epochs per subject, or
# (things_meg.data: derivatives) the authors' preprocessed epochs into the same files.

if MEG["data"] == "derivatives":

    rule preprocess_meg_derivatives:
        input:
            script=script("preprocess_meg_derivatives"),
            bids=BIDS_ROOT,
            stimuli=stimuli_dir(),
        output:
            epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
            trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
            info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        log:
            "logs/preprocess_meg/sub-{subject}.log",
        benchmark:
            "benchmarks/preprocess_meg/sub-{subject}.tsv"
        conda:
            "../../envs/mne.yaml"
        resources:
            mem_mb=lambda wildcards, attempt: on_retry(4000, attempt),  # 500 epochs at a time
        params:
            derivative=lambda wildcards: (
                f"{BIDS_ROOT}/derivatives/preprocessed/"
                f"preprocessed_P{wildcards.subject.removeprefix('BIGMEG')}-epo.fif"
            ),
            sessions=MEG["sessions"],
            runs=MEG["runs"],
            recipe=as_json(MEG["preprocess"]),
        shell:
            "python {input.script} --derivative {params.derivative:q} --bids {input.bids:q}"
            " --stimuli {input.stimuli:q} --subject {wildcards.subject}"
            " --sessions {params.sessions} --runs {params.runs} --recipe {params.recipe:q}"
            " --epochs {output.epochs:q} --trials {output.trials:q} --info {output.info:q}"
            " > {log} 2>&1"

else:

    rule preprocess_meg:
        input:
            script=script("preprocess_meg"),
            bids=BIDS_ROOT,
            stimuli=stimuli_dir(),
        output:
            epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
            trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
            info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        log:
            "logs/preprocess_meg/sub-{subject}.log",
        benchmark:
            "benchmarks/preprocess_meg/sub-{subject}.tsv"
        priority: 50  # the brain module's inputs: start the longest chain first
        conda:
            "../../envs/mne.yaml"
        resources:
            mem_mb=meg_preprocess_mem_mb,
        params:
            sessions=MEG["sessions"],
            runs=MEG["runs"],
            sfreq=MEG["sfreq"],
            recipe=as_json(MEG["preprocess"]),
        shell:
            "python {input.script} --bids {input.bids:q} --stimuli {input.stimuli:q}"
            " --subject {wildcards.subject} --sessions {params.sessions} --runs {params.runs}"
            " --raw-sfreq {params.sfreq} --recipe {params.recipe:q}"
            " --epochs {output.epochs:q} --trials {output.trials:q} --info {output.info:q}"
            " > {log} 2>&1"
