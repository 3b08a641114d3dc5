"""`cshub template --kind funding [--province 320000] [--out 报表.xlsx]`: an Excel workbook to fill in.

The workbook has the Chinese and English header of every column, drop-downs and checks on every row, one
example row (never sent) and a sheet explaining each column; `cshub publish` reads it back as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cshub.options import add_settings, settings_from
from schemas.errors import CshubError
from schemas.topics import KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--province", help="the province the template is for: its example row, and the only code its"
                                           " province column takes (default: any province; the example: the first)")
    parser.add_argument("--out", type=Path, help="where to write it (default: template_<kind>[_<province>].xlsx)")
    add_settings(parser, "provinces_file")


def run(args: argparse.Namespace) -> int:
    from connectors.templates import write_template
    from schemas.reference import provinces

    settings = settings_from(args)
    known = provinces(settings.provinces_file)
    if args.province is not None and args.province not in known:
        raise CshubError(f"--province {args.province} is not a known province code",
                         "schemas/data/provinces.csv lists them, e.g. 320000 for 江苏省")
    out = args.out or Path(f"template_{args.kind}{'_' + args.province if args.province else ''}.xlsx")
    if out.suffix.lower() != ".xlsx":
        raise CshubError(f"--out {out}: a template is an Excel workbook", "name it with .xlsx")
    try:
        write_template(args.kind, args.province, out)
    except OSError as exc:
        raise CshubError(f"cannot write {out}: {exc.strerror or exc}", "choose a folder you may write to") from exc
    print(f"wrote {out}: a {args.kind} template (fill in the first sheet; row 2 is an example and is never sent);"
          f" check it with: cshub publish --province {args.province or 'P'} --kind {args.kind} {out} --check")
    return 0
