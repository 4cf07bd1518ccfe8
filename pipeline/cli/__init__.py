"""The command-line layer: ``python -m pipeline <command>`` (:mod:`pipeline.__main__`).

Every command's argument parsing, and all reading of ``params.yaml``
(:mod:`~pipeline.cli.config`, :mod:`~pipeline.cli.schema`), live here and
nowhere else.  Generic commands (describe, reliability, efa, fit, power,
validate, screen) use the library's defaults; study commands (stage, synth,
cea, audit, scorecard) read the study's settings and pass them on as
arguments.
"""
