"""`python -m validation check --spec spec.json FILE`: pre-flight a file against a mapping.

FILE is CSV with a header row or JSON Lines (one object per line); `-` reads standard input.
The format follows the extension (.csv; .jsonl, .ndjson, .json) or, for standard input and other
names, the first character (`{` means JSON Lines); `--format` overrides both.

Standard output gets one JSON object per input row, in order:
    {"row": 1, "ok": false, "identity": "u1", "event_name": null, "errors": [{"field": ...,
     "code": ..., "message": ...}]}
Standard error gets one summary line, a JSON object with total, successful, failed and the health
as DESIGN.md computes it. Exit status: 0 when the check ran (even if rows failed), 2 with a
one-line error for a bad spec or an unreadable file (verdicts are printed a batch at a time, so
rows before a malformed JSON line may already be out).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from validation.engine import validate_batch
from validation.health import compute_health
from validation.spec import MappingError, MappingSpec
from validation.values import WHITE_SPACE

BATCH_SIZE = 1000
_JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}


class CheckError(Exception):
    """A reason to stop with exit status 2: bad spec, unreadable file."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the usage block
        raise CheckError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m validation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser("check", help="validate a CSV or JSON Lines file against a spec")
    check.add_argument("--spec", required=True, help="mapping spec JSON (MappingSpec.to_dict())")
    check.add_argument("--format", choices=("csv", "jsonl"), help="override format detection")
    check.add_argument("file", help="CSV (header row) or JSON Lines file; - for standard input")
    return parser


def load_spec(path: str) -> MappingSpec:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CheckError(f"cannot read spec {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckError(f"spec {path} is not valid JSON: {error}") from None
    try:
        return MappingSpec.from_dict(data)
    except MappingError as error:
        raise CheckError(f"bad spec {path}: {error}") from None
    except TypeError as error:  # a value of the wrong kind where a dataclass wants another
        raise CheckError(f"bad spec {path}: {error}") from None


def _open(path: str) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
    try:
        return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as error:
        raise CheckError(f"cannot read {path}: {error.strerror or error}") from None


def _csv_rows(stream: TextIO, spec: MappingSpec, path: str) -> Iterator[dict[str, Any]]:
    csv.field_size_limit(2**31 - 1)  # a huge cell is a value to judge, not a reason to stop
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    wanted = [spec.identity_column, spec.event_name_column, spec.timestamp_column]
    wanted += [mapping.column for mapping in spec.fields]
    missing = [column for column in dict.fromkeys(wanted) if column and column not in header]
    if header and missing:
        print(f"warning: {_name(path)} has no column {', '.join(missing)}", file=sys.stderr)
    yield from reader


def _json_lines(stream: TextIO, path: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(stream, 1):
        if not line.strip(WHITE_SPACE):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise CheckError(
                f"{_name(path)} line {number} is not valid JSON: {error.msg}"
            ) from None
        if not isinstance(row, dict):
            raise CheckError(f"{_name(path)} line {number} is not a JSON object")
        yield row


def _rows(path: str, fmt: str | None, spec: MappingSpec) -> Iterator[dict[str, Any]]:
    stream = _open(path)
    with stream:
        if fmt is None:
            suffix = Path(path).suffix.lower() if path != "-" else ""
            if suffix == ".csv":
                fmt = "csv"
            elif suffix in _JSON_LINES_SUFFIXES:
                fmt = "jsonl"
            else:  # sniff: JSON Lines start with an object
                first = stream.read(1)
                while first and first in WHITE_SPACE:
                    first = stream.read(1)
                fmt = "jsonl" if first == "{" else "csv"
                stream = _Prepend(first, stream)
        if fmt == "csv":
            yield from _csv_rows(stream, spec, path)
        else:
            yield from _json_lines(stream, path)


class _Prepend(io.TextIOBase):
    """A text stream with some already-read text put back in front."""

    def __init__(self, head: str, rest: TextIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        head, self._head = self._head, ""
        if size is None or size < 0:
            return head + self._rest.read()
        return head + self._rest.read(max(0, size - len(head)))

    def readline(self, size: int | None = -1) -> str:
        head, self._head = self._head, ""
        if "\n" in head:
            line, _, self._head = head.partition("\n")
            return line + "\n"
        return head + self._rest.readline()

    def __iter__(self) -> Iterator[str]:
        while line := self.readline():
            yield line


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def check(spec: MappingSpec, path: str, fmt: str | None, out: TextIO) -> tuple[int, int]:
    """Print one verdict per row; return (total, successful)."""
    total = successful = 0
    for batch in _batches(_rows(path, fmt, spec)):
        lines = []
        for outcome in validate_batch(batch, spec):
            total += 1
            successful += outcome.ok
            lines.append(json.dumps({"row": total, **outcome.verdict()}, ensure_ascii=False))
        out.write("\n".join(lines) + "\n")
    return total, successful


def main(argv: list[str] | None = None) -> int:
    path = "-"
    try:
        args = _parser().parse_args(argv)
        path = args.file
        spec = load_spec(args.spec)
        if hasattr(sys.stdout, "reconfigure"):  # a lone surrogate must not stop the output
            sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")
        total, successful = check(spec, path, args.format, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        sys.stderr.close()
        return 0
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        print(f"error: cannot read {_name(path)}: {error}", file=sys.stderr)
        return 2
    health = compute_health(total, successful)
    summary = {
        "total": total,
        "successful": successful,
        "failed": total - successful,
        "health": health.label,
        "health_band": health.band,
    }
    print(json.dumps(summary), file=sys.stderr)
    return 0


def _name(path: str) -> str:
    return "standard input" if path == "-" else path
