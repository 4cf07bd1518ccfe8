"""``python -m pipeline validate DATA --instrument NAME`` (or ``--wave W``): check a raw file.

Prints a summary of what was loaded and every recoding the loader made
(:func:`pipeline.data.loading.read_raw`); exits 0 when the file meets the
contract.  A breach raises
:class:`~pipeline.core.exceptions.DataValidationError`, which the dispatcher
prints as one message (file, column, rows) with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from pipeline.data.loading import read_raw
    ap = argparse.ArgumentParser(prog="python -m pipeline validate",
                                 description="Check a raw survey file against its instrument codebook.")
    ap.add_argument("data", nargs="?", help="the raw file (.csv, .xlsx, .sav)")
    ap.add_argument("--instrument", help="codebook name (cs2019, cs2020, citizens2020) or YAML path")
    ap.add_argument("--wave", help="take file and instrument from params.yaml waves.<WAVE>")
    ap.add_argument("--encoding", help="force the text encoding of a CSV (default: detect)")
    ap.add_argument("--json", action="store_true", help="print the load log as JSON")
    args = ap.parse_args(argv)
    data, instrument = args.data, args.instrument
    encoding = args.encoding
    if args.wave:
        from pipeline.cli import config
        from pipeline.core import paths
        wp = config.wave_params(args.wave)
        data = data or str(paths.resolve(wp["raw"]))
        instrument = instrument or wp["instrument"]
        if encoding is None:
            try:
                encoding = (config.stage_params("loading") or {}).get("encoding")
            except KeyError:
                encoding = None
    if not data or not instrument:
        ap.error("give DATA and --instrument, or --wave")
    res = read_raw(data, instrument, encoding=encoding)
    if args.json:
        print(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(res.summary())
        print("OK: the file meets the codebook contract")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
