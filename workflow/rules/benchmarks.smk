# The make-bench results in the report: only when `make bench` has written some.


if PLAN.benchmark_results:

    rule report_benchmarks:
        input:
            script=script("report_benchmarks"),
            package=package("report_benchmarks"),
            results=list(PLAN.benchmark_results),
        output:
            html=report(
                "results/benchmarks/benchmarks.html",
                caption="../report/benchmarks.rst",
                category="Benchmarks",
            ),
        log:
            "logs/report_benchmarks/benchmarks.log",
        benchmark:
            "logs/benchmarks/report_benchmarks/benchmarks.tsv"
        localrule: True
        conda:
            "../../envs/learn.yaml"
        shell:
            "python {input.script} --results {input.results:q} --html {output.html:q}"
            " > {log} 2>&1"
