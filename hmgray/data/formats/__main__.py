"""``python -m hmgray.data.formats <format> [flags]``: dispatch to the family's converter
(see :data:`hmgray.data.formats.CONVERTERS`). Exit status: the converter's (0 success,
1 conversion error, 2 usage error)."""

from __future__ import annotations

import importlib
import sys

from hmgray.data.formats import CONVERTERS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in CONVERTERS:
        out = sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr
        print(
            "usage: python -m hmgray.data.formats FORMAT [flags]  (FORMAT --help for its flags)",
            file=out,
        )
        for name, (_, what) in CONVERTERS.items():
            print(f"  {name:<12} {what}", file=out)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown format {argv[0]!r}", file=sys.stderr)
        return 0 if out is sys.stdout else 2
    module = importlib.import_module(CONVERTERS[argv[0]][0])
    return module.main(argv)


if __name__ == "__main__":
    sys.exit(main())
