"""``python -m pipeline synth``: the thesis's calibrated synthetic waves.

The recipe is the study's (:mod:`studies.amirova2021.synth`, which reads its
own settings); this module only dispatches to it.
"""
from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from studies.amirova2021.synth import main as synth_main
    return synth_main(argv)
