# Figures: one script per figure (scripts/plot_<name>.py) reading only result tables,
# one rule pattern for all of them. Each figure's inputs (passed as `--<name> FILES`)
# and extra arguments come from the plan (`brainlatent.plan.Figure`). Directives run at
# job time (shell, functions) must not read `figure`, the loop's last value by then:
# what differs between figures goes through params, fixed when the rule is defined.

for figure in PLAN.figures:

    rule:
        name:
            f"plot_{figure.name}"
        input:
            **{key: list(paths) for key, paths in figure.inputs.items()},
            script=script(f"plot_{figure.kind}"),
            package=package(f"plot_{figure.kind}"),
        output:
            pdf=figure.outputs[0],
            png=report(
                figure.outputs[1],
                caption=f"../report/{figure.kind}.rst",
                category=figure.category,
                labels={"figure": figure.name},
            ),
        log:
            f"logs/plot_{figure.name}/{figure.name}.log",
        benchmark:
            f"logs/benchmarks/plot_{figure.name}/{figure.name}.tsv"
        localrule: True
        conda:
            "../../envs/learn.yaml"
        params:
            inputs=get_figure_inputs,
            args=figure.shell_args,
        shell:
            "python {input.script} {params.inputs}{params.args}"
            " --pdf {output.pdf:q} --png {output.png:q} > {log} 2>&1"
