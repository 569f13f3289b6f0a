# Motor cortex across sessions (Jude, Perich, Miller & Hennig 2022, SABLE; DANDI 000688):
# simulate or download each monkey's sessions, bin every session's trials on movement onset (or
# the go cue: `motor.align`), then decode hand velocity on the sessions after the training ones:
# within-session, fixed, aligned PCA/CCA (one job), CEBRA multi-session (one job), SABLE fitted
# once and adapted to each unseen session. A cohort is `PLAN.motor_cohorts[name]`: the `motor` section's monkeys
# and your own chronic sessions (`recordings.<name>.sessions`).

MOTOR_COHORTS = PLAN.motor_cohorts


wildcard_constraints:
    cohort="|".join(MOTOR_COHORTS) or "$^",
    motor_session=r"[A-Za-z0-9_\-]+",
    seed=r"\d+",


if PLAN.motor.source == "simulate":
    MONKEY = next(iter(PLAN.motor.cohorts.values()))

    rule simulate_motor_sessions:
        input:
            script=script("simulate_motor_sessions"),
            package=package("simulate_motor_sessions"),
        output:
            nwb=list(MONKEY.sessions.values()),
            truth=f"{MONKEY.root}/ground_truth/truth.npz",
        log:
            f"logs/simulate_motor_sessions/{MONKEY.name}.log",
        benchmark:
            f"logs/benchmarks/simulate_motor_sessions/{MONKEY.name}.tsv"
        conda:
            "../../envs/calcium.yaml"
        params:
            simulation=as_json(config["motor"]["simulate"]),
            seed=config["seed"],
        shell:
            "python {input.script} --nwb {output.nwb:q} --truth {output.truth:q}"
            " --simulation {params.simulation:q} --seed {params.seed} > {log} 2>&1"

else:

    rule download_motor_session:
        input:
            script=script("download_motor_cortex"),
            manifest=PLAN.resolve(config["motor"]["manifest"]),
        output:
            nwb=f"{MOTOR_ROOT}/{{cohort}}/nwb/{{motor_session}}_behavior+ecephys.nwb",
        log:
            "logs/download_motor_session/{cohort}_{motor_session}.log",
        benchmark:
            "logs/benchmarks/download_motor_session/{cohort}_{motor_session}.tsv"
        retries: 2
        localrule: True
        conda:
            "../../envs/calcium.yaml"
        resources:
            downloads=1,
        params:
            session=lambda w: motor_cohort(w).downloads[w.motor_session],
        shell:
            "python {input.script} --manifest {input.manifest:q} --session {params.session:q}"
            " --nwb {output.nwb:q} > {log} 2>&1"


rule bin_motor_trials:
    input:
        script=script("bin_motor_trials"),
        package=package("bin_motor_trials"),
        nwb=lambda w: motor_cohort(w).sessions[w.motor_session],
    output:
        trials=f"{MOTOR_ROOT}/{{cohort}}/trials/{{motor_session}}.npz",
    log:
        "logs/bin_motor_trials/{cohort}_{motor_session}.log",
    benchmark:
        "logs/benchmarks/bin_motor_trials/{cohort}_{motor_session}.tsv"
    conda:
        "../../envs/calcium.yaml"
    resources:
        mem_mb=mem_from_inputs(3, 1000, lambda w: motor_cohort(w).largest_mb),
    params:
        settings=motor_settings(
            "bin_s", "window_s", "align", "onset", "groups", "cursor_unit", "artifacts"
        ),
    shell:
        "python {input.script} --nwb {input.nwb:q} --trials {output.trials:q}"
        " --settings {params.settings:q} > {log} 2>&1"


rule decode_motor_baselines:
    input:
        script=script("decode_motor_baselines"),
        package=package("decode_motor_baselines"),
        trials=lambda w: motor_cohort(w).all_trials,
    output:
        metrics=f"{MOTOR_ROOT}/{{cohort}}/metrics/baselines.parquet",
        trajectories=f"{MOTOR_ROOT}/{{cohort}}/metrics/trajectories.npz",
        sessions=f"{MOTOR_ROOT}/{{cohort}}/metrics/sessions.parquet",
    log:
        "logs/decode_motor_baselines/{cohort}.log",
    benchmark:
        "logs/benchmarks/decode_motor_baselines/{cohort}.tsv"
    conda:
        "../../envs/calcium.yaml"
    resources:
        mem_mb=mem_from_inputs(4, 1000),
    params:
        settings=motor_settings(
            "methods",
            "n_train_sessions",
            "calibration_fraction",
            "decoder",
            "aligned",
            job="baselines",
        ),
    shell:
        "python {input.script} --trials {input.trials:q} --settings {params.settings:q}"
        " --metrics {output.metrics:q} --trajectories {output.trajectories:q}"
        " --sessions {output.sessions:q} > {log} 2>&1"


rule decode_motor_cebra:
    input:
        script=script("decode_motor_cebra"),
        package=package("decode_motor_cebra"),
        trials=lambda w: motor_cohort(w).all_trials,
    output:
        metrics=f"{MOTOR_ROOT}/{{cohort}}/metrics/cebra.parquet",
    log:
        "logs/decode_motor_cebra/{cohort}.log",
    benchmark:
        "logs/benchmarks/decode_motor_cebra/{cohort}.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
        mem_mb=mem_from_inputs(4, 1500),
    params:
        settings=motor_settings(
            "n_train_sessions", "calibration_fraction", "decoder", "cebra"
        ),
        seed=lambda w: motor_cohort(w).seeds[0],
    shell:
        "python {input.script} --trials {input.trials:q} --settings {params.settings:q}"
        " --seed {params.seed} --device {resources.device}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule fit_motor_sable:
    input:
        script=script("fit_motor_sable"),
        package=package("fit_motor_sable"),
        trials=lambda w: motor_cohort(w).all_trials,
    output:
        model=f"{MOTOR_ROOT}/{{cohort}}/models/sable_seed{{seed}}.pt",
        history=f"{MOTOR_ROOT}/{{cohort}}/models/sable_seed{{seed}}_history.parquet",
    log:
        "logs/fit_motor_sable/{cohort}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/fit_motor_sable/{cohort}_seed{seed}.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
        mem_mb=mem_from_inputs(4, 1500),
    params:
        settings=motor_settings("n_train_sessions", "sable"),
    shell:
        "python {input.script} --trials {input.trials:q} --settings {params.settings:q}"
        " --seed {wildcards.seed} --device {resources.device}"
        " --model {output.model:q} --history {output.history:q} > {log} 2>&1"


rule decode_motor_sable:
    input:
        script=script("decode_motor_sable"),
        package=package("decode_motor_sable"),
        trials=lambda w: motor_cohort(w).all_trials,
        model=f"{MOTOR_ROOT}/{{cohort}}/models/sable_seed{{seed}}.pt",
    output:
        metrics=f"{MOTOR_ROOT}/{{cohort}}/metrics/sable_seed{{seed}}.parquet",
    log:
        "logs/decode_motor_sable/{cohort}_seed{seed}.log",
    benchmark:
        "logs/benchmarks/decode_motor_sable/{cohort}_seed{seed}.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
        mem_mb=mem_from_inputs(4, 1500),
    params:
        settings=motor_settings(
            "methods", "n_train_sessions", "calibration_fraction", job="sable"
        ),
    shell:
        "python {input.script} --trials {input.trials:q} --model {input.model:q}"
        " --settings {params.settings:q} --seed {wildcards.seed} --device {resources.device}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule collect_motor_metrics:
    input:
        script=script("collect_metrics"),
        package=package("collect_metrics"),
        tables=motor_tables,
    output:
        metrics=f"{MOTOR_ROOT}/{{cohort}}/metrics/cross_session.parquet",
    log:
        "logs/collect_motor_metrics/{cohort}.log",
    benchmark:
        "logs/benchmarks/collect_motor_metrics/{cohort}.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --tables {input.tables:q} --metrics {output.metrics:q}"
        " --columns any > {log} 2>&1"
