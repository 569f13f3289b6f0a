# download: the real ds004212 runs named in the config, checked against the manifest.

if MEG["source"] == "download":

    rule download_things_meg:
        input:
            script=script("download_things_meg"),
            manifest=resolve(MEG["manifest"]),
        output:
            bids=directory(BIDS_ROOT),
        log:
            "logs/download_things_meg/things_meg.log",
        benchmark:
            "benchmarks/download_things_meg/things_meg.tsv"
        conda:
            "../../envs/mne.yaml"
        resources:
            downloads=1,
        params:
            subjects=SUBJECTS,
            sessions=MEG["sessions"],
            runs=MEG["runs"],
        shell:
            "python {input.script} --manifest {input.manifest:q} --bids {output.bids:q}"
            " --cache data/ds004212"
            " --subjects {params.subjects} --sessions {params.sessions} --runs {params.runs}"
            " > {log} 2>&1"
