"""Benchmarks of build, package, plan and start-up against the tools people would use instead.

``python -m bench [--only build,noop,size,plan,coldstart] [--runs N]`` (= ``make bench``); each
benchmark prints a table and writes ``bench/results/<name>.json``. See bench/README.md.
"""
