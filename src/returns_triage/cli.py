"""The `triage` command. Sub-commands import what they need when they run, so `triage serve` never pays for
training libraries."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from returns_triage.commands import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
