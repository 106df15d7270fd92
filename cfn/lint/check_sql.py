"""Parses the README's ```sql blocks as Athena SQL (sqlglot): the example queries over
the report table must at least be valid statements. Exits non-zero naming the block."""

import pathlib
import re
import sys

import sqlglot
from sqlglot.errors import ParseError


def main() -> int:
    readme = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    text = readme.read_text(encoding="utf-8")
    blocks = [(text[: m.start()].count("\n") + 2, m.group(1))
              for m in re.finditer(r"^```sql\n(.*?)^```", text, re.MULTILINE | re.DOTALL)]
    if not blocks:
        print(f"{readme}: no ```sql blocks", file=sys.stderr)
        return 1
    failed = 0
    for line, sql in blocks:
        try:
            statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
            if len(statements) != 1:
                raise ParseError(f"expected one statement, found {len(statements)}")
        except ParseError as e:
            print(f"{readme}:{line}: not valid Athena SQL: {e}", file=sys.stderr)
            failed += 1
    print(f"{readme}: {len(blocks) - failed} of {len(blocks)} SQL blocks parse as Athena SQL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
