"""``python -m pipeline screen DATA --instrument NAME [--wave W] [--distributed N] [--out DIR] [--json OUT]``.

Screens a wave's questionnaires (:func:`pipeline.data.screening.screen`) and
writes ``clean.csv``, ``screening_report.csv``, ``exclusion_log.csv`` and
``screening.json``.

What reaches the disk is protected:

* every output path (``--out``, ``--json``) is checked before anything is
  read or written: a refused path (under ``data/raw``, a directory given as
  ``--json``, a folder that cannot be written) fails with nothing written;
* free-text answers are redacted with the codebook's ``names_to_redact``;
* respondent ids that are themselves personal data (e-mail addresses,
  IINs, phone numbers) are replaced by stable keyed pseudonyms
  (:func:`pipeline.data.privacy.pseudonymize_ids`); the key comes from
  ``$PIPELINE_PSEUDONYM_KEY`` or from the file that ``params.yaml``'s
  ``privacy.pseudonym_key_file`` names (kept out of git).  Without a key
  such ids are refused.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "check_output_path"]


def check_output_path(path: str | os.PathLike, arg: str, *, directory: bool = False) -> Path:
    """Refuse an output path before anything is written (``ValueError`` naming *arg*)."""
    from pipeline.core.exceptions import RawDataWriteError
    from pipeline.core.io import guard_not_raw
    p = Path(path)
    try:
        guard_not_raw(p)
    except RawDataWriteError as exc:
        raise ValueError(f"{arg}: {exc}") from None
    if directory:
        if p.exists() and not p.is_dir():
            raise ValueError(f"{arg}: {p} exists and is not a directory")
    elif p.is_dir():
        raise ValueError(f"{arg}: {p} is a directory; give a file name")
    anc = p if directory else p.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise ValueError(f"{arg}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ValueError(f"{arg}: cannot write under {anc} (permission denied)")
    return p


def _wave_of(instrument: str) -> str | None:
    from pipeline.cli import config
    try:
        waves = config.load_params().get("waves", {})
    except FileNotFoundError:
        return None
    hits = [w for w, p in waves.items() if (p or {}).get("instrument") == instrument]
    return hits[0] if len(hits) == 1 else None


def _settings_key() -> str | None:
    """The pseudonym key from the file ``privacy.pseudonym_key_file`` names, if any."""
    from pipeline.cli import config
    from pipeline.core import paths
    try:
        name = (config.stage_params("privacy") or {}).get("pseudonym_key_file")
    except (KeyError, FileNotFoundError):
        return None
    if not name:
        return None
    f = paths.resolve(name)
    if not Path(f).is_file():
        raise ValueError(f"privacy.pseudonym_key_file: {f} not found")
    return Path(f).read_text(encoding="utf-8").strip() or None


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import config
    from pipeline.core import paths
    from pipeline.core.io import write_json
    from pipeline.data.codebook import load_codebook
    from pipeline.data.loading import read_raw
    from pipeline.data.privacy import PSEUDONYM_ENV, pseudonymize_ids, redact_wave
    from pipeline.data.screening import screen
    ap = argparse.ArgumentParser(prog="python -m pipeline screen",
                                 description="Screen a wave's questionnaires (redacted outputs).")
    ap.add_argument("data", help="CSV, XLSX or SAV file")
    ap.add_argument("--instrument", required=True, help="codebook name (cs2019, cs2020, citizens2020)")
    ap.add_argument("--wave", help="wave in params.yaml (default: the wave using the instrument)")
    ap.add_argument("--distributed", type=int, help="questionnaires handed out "
                    "(default: params.yaml waves.<wave>.distributed)")
    ap.add_argument("--out", help="directory for clean.csv, screening_report.csv, "
                    "exclusion_log.csv, screening.json (default data/processed/<wave>/screening)")
    ap.add_argument("--json", help="write the summary (funnel, reasons, log) as JSON here")
    args = ap.parse_args(argv)
    # every output path is checked before anything is read or written
    json_path = check_output_path(args.json, "--json") if args.json else None
    out_arg = check_output_path(args.out, "--out", directory=True) if args.out else None
    cb = load_codebook(args.instrument)
    wave = args.wave or _wave_of(cb.name)
    outdir = out_arg if out_arg is not None else (paths.wave_dir(wave) / "screening" if wave else None)
    if outdir is not None and out_arg is None:
        check_output_path(outdir, "--out", directory=True)
    loaded = read_raw(args.data, cb)
    key = os.environ.get(PSEUDONYM_ENV) or _settings_key()
    data, pii_kind = pseudonymize_ids(loaded.data, cb.id_column, key)
    distributed = args.distributed
    if distributed is None and wave:
        distributed = config.wave_params(wave).get("distributed")
    try:
        params = config.stage_params("screening") or {}
    except (KeyError, FileNotFoundError):
        params = {}
    res = screen(data, cb, params, distributed=distributed, rows=loaded.rows,
                 recodings=loaded.log_frame(), file=str(args.data))
    res.clean, redaction = redact_wave(res.clean, cb)
    print(res.summary())
    if pii_kind:
        print(f"  respondent ids ({cb.id_column}) looked like personal data ({pii_kind}): "
              "replaced by keyed pseudonyms")
    n_red = int(redaction.to_numpy().sum()) if len(redaction) else 0
    print(f"  free text redacted: {n_red} replacement(s)")
    if outdir is not None:
        files = res.write(outdir, names=cb.names_to_redact, text_columns=cb.text_items)
        print(f"wrote {', '.join(str(p) for p in files.values())}")
    if json_path is not None:
        write_json(json_path, res.to_dict())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
