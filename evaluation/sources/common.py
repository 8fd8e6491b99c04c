"""What every reader shares: opening an input as text, matching its header, parsing dates and numbers, and
counting rejected rows so that rows read = rows kept + rows rejected.

Inputs are ``.csv``, ``.csv.gz`` or ``.zip`` (each CSV inside is read as a separate input). Text is UTF-8
with or without a byte-order mark; anything that is not valid UTF-8 is read as Windows-1252 (the encoding
Excel on Windows writes), and a finding says so.

Line numbers in messages are 1-based physical lines of the file, the header being line 1; a record with
a line break inside a quoted field is numbered by the line it starts on. Compressed inputs may decompress to
at most the cap in ``data_dictionary/layouts.yaml`` (``limits.max_decompressed_mb``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.dictionary.inputs import already_suppressed_marks, max_decompressed_bytes
from evaluation.panel.frame import ReadReport
from evaluation.provenance import sha256_file

_BOM = b"\xef\xbb\xbf"
#: Values a publisher writes instead of a number when a figure is withheld for disclosure control
#: (``data_dictionary/disclosure.yaml``, ``already_suppressed_marks``).
SUPPRESSION_MARKERS = already_suppressed_marks()
#: A message quotes at most this many characters of a cell or line, and is at most ``_MAX_MESSAGE`` long.
_MAX_QUOTE = 400
_MAX_MESSAGE = 1000
_HEAD = 256 * 1024


def one_line(text: object, limit: int = _MAX_MESSAGE) -> str:
    """``text`` as one readable line: whitespace runs collapsed, control characters shown as ``?``, and cut
    to ``limit`` characters with a note of how much was left out."""
    flat = " ".join(str(text).split())
    flat = "".join("?" if (ord(ch) < 32 or 127 <= ord(ch) < 160) else ch for ch in flat)
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit - 40].rstrip()} ... [{len(flat) - limit + 40} more characters]"


class SourceError(ValueError):
    """An input cannot be read at all (as opposed to single rows, which are rejected and counted).

    Carries ``path``, and where they apply ``row`` (1-based line in the file, header = line 1), ``column``,
    ``expected`` and ``found``. ``str()`` is one line naming the file, the row and column, the problem and
    what was expected.
    """

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        place: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.row = row
        self.column = column
        self.expected = expected
        self.found = found
        self.place = place
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [self.path]
        if self.place is not None:  # e.g. "sheet 'Table 4' cell D12" for a spreadsheet
            parts.append(self.place)
        elif self.row is not None:
            parts.append(f"line {self.row}")
        # Header-level problems name their columns in the problem text; a column is a location only when
        # the problem sits in one cell.
        if self.column is not None and self.row is not None and self.place is None:
            parts.append(f"column {self.column}")
        text = ": ".join([*parts, self.problem])
        if self.expected is not None:
            text += f"; expected {self.expected}"
        if self.found is not None:
            text += f"; found {one_line(self.found, _MAX_QUOTE)}"
        return one_line(text)  # one line, whatever the header cells contained

    def __str__(self) -> str:
        return self._message()


# --------------------------------------------------------------------------------------------------
# Opening inputs


@dataclass(frozen=True)
class CsvSource:
    """One CSV to read: a plain or gzipped file, or one member of a zip archive."""

    path: Path
    member: str | None = None

    @property
    def label(self) -> str:
        """The path used in reports and messages (``archive.zip!member.csv`` for a zip member)."""
        return str(self.path) if self.member is None else f"{self.path}!{self.member}"

    @property
    def name(self) -> str:
        """The file name recorded in the panel's ``source_file`` column."""
        return self.path.name if self.member is None else f"{self.path.name}!{self.member}"

    def read_bytes(self, limit: int | None = None) -> bytes:
        """The (decompressed) bytes, or only the first ``limit`` bytes."""
        return self._read(limit)[0]

    def read_all(self) -> tuple[bytes, bool]:
        """All the (decompressed) bytes, and whether the compressed stream was complete.

        A gzip stream cut short (an interrupted download) gives what could be decompressed and ``False``,
        so the reader can still count its complete rows and reject the partial last one.
        """
        return self._read(None)

    def _read(self, limit: int | None) -> tuple[bytes, bool]:
        cap = max_decompressed_bytes()
        try:
            if self.member is not None:
                with zipfile.ZipFile(self.path) as zf:
                    info = zf.getinfo(self.member)
                    if info.flag_bits & 0x1:
                        raise SourceError(
                            self.label,
                            "the zip member is encrypted (password protected)",
                            expected="an archive without a password (unpack it and put the CSV in the data folder)",
                        )
                    if limit is None and info.file_size > cap:
                        _refuse_size(self.label, cap)
                    with zf.open(info) as fh:
                        # Read one byte past the cap: the declared size can lie.
                        data = fh.read(cap + 1 if limit is None else min(limit, cap + 1))
                if len(data) > cap:
                    _refuse_size(self.label, cap)
            else:
                with open(self.path, "rb") as fh:
                    data = fh.read(-1 if limit is None else limit)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as exc:
            # RuntimeError: an encrypted member zipfile did not flag; NotImplementedError: an unsupported
            # compression method (e.g. Deflate64 from Windows Explorer).
            raise SourceError(self.label, f"cannot be read ({type(exc).__name__}: {exc})") from None
        if (self.member or self.path.name).lower().endswith(".gz"):
            return _gunzip(data, self.label, limit, cap)
        return data, True


def _refuse_size(label: str, cap: int) -> None:
    raise SourceError(
        label,
        f"decompresses to more than {cap // (1024 * 1024)} MB (the cap in data_dictionary/layouts.yaml, "
        "limits.max_decompressed_mb)",
        expected="a smaller file; if it really is an input, raise the cap for this run with "
        "EVALUATION_MAX_DECOMPRESSED_MB=<megabytes>",
    )


def _gunzip(data: bytes, label: str, limit: int | None, cap: int) -> tuple[bytes, bool]:
    """Decompress gzip bytes (several members allowed); tolerate a stream that stops early; refuse more
    than ``cap`` bytes of output."""
    out: list[bytes] = []
    size = 0
    want = cap + 1 if limit is None else min(limit, cap + 1)
    try:
        while data:
            # One-shot zlib decompression is much faster than streaming through GzipFile for big files.
            dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = dec.decompress(data, want - size)
            out.append(chunk)
            size += len(chunk)
            if size > cap:
                _refuse_size(label, cap)
            if not dec.eof:
                if limit is None and dec.unconsumed_tail:  # stopped at the cap, not at the end of the data
                    _refuse_size(label, cap)
                return b"".join(out), limit is not None
            if limit is not None and size >= limit:
                break
            data = dec.unused_data.lstrip(b"\0")
    except zlib.error as exc:
        if not out:
            raise SourceError(label, f"not a valid gzip file ({exc})") from None
        return b"".join(out), False
    return b"".join(out), True


def csv_sources(path: Path | str) -> list[CsvSource]:
    """The CSVs an input holds: itself for ``.csv`` / ``.csv.gz``, every CSV inside a ``.zip``.

    Raises :class:`SourceError` for a missing file, an unsupported type, a broken archive or a zip with no
    CSV in it.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(path, "file not found")
    lower = path.name.lower()
    if lower.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
        except zipfile.BadZipFile:
            raise SourceError(path, "not a valid zip archive") from None
        skipped = dict(_skipped_members(names))
        members = [n for n in names if n not in skipped]
        if not members:
            raise SourceError(
                path,
                "zip archive contains no CSV file",
                expected="at least one .csv inside",
                found=", ".join(names) or "an empty archive",
            )
        return [CsvSource(path, m) for m in sorted(members)]
    if lower.endswith((".csv", ".csv.gz")):
        return [CsvSource(path)]
    raise SourceError(path, "unsupported file type", expected=".csv, .csv.gz, .zip or .xlsx")


#: Archive and compressed types a zip member may be but is not read as (a nested archive is not unpacked).
_NESTED_ARCHIVES = (".zip", ".7z", ".rar", ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz")


def _skipped_members(names: Sequence[str]) -> list[tuple[str, str]]:
    """The members of a zip that are not read, each with the reason (every other member is a CSV)."""
    out = []
    for n in names:
        lower = n.lower()
        if lower.endswith((".csv", ".csv.gz")) and not n.startswith("__MACOSX/") and not Path(n).name.startswith("."):
            continue
        if n.startswith("__MACOSX/") or Path(n).name.startswith("._"):
            why = "Mac resource-fork copy (not data)"
        elif Path(n).name.startswith("."):
            why = "hidden file"
        elif lower.endswith(_NESTED_ARCHIVES):
            why = "nested archive (an archive inside the zip is not unpacked; unpack it into the data folder)"
        else:
            why = f"unknown extension ({Path(n).suffix or 'none'}; only .csv and .csv.gz are read inside a zip)"
        out.append((n, why))
    return out


def zip_skipped_members(path: Path | str) -> list[tuple[str, str]]:
    """The members of a readable ``.zip`` that are not read, with the reason; ``[]`` for any other input."""
    path = Path(path)
    if not path.name.lower().endswith(".zip"):
        return []
    try:
        with zipfile.ZipFile(path) as zf:
            return _skipped_members([i.filename for i in zf.infolist() if not i.is_dir()])
    except (OSError, zipfile.BadZipFile):
        return []


def as_single_source(source: CsvSource | Path | str) -> CsvSource:
    """A reader's input as one CSV; a zip holding several CSVs must go through ``read_file``."""
    if isinstance(source, CsvSource):
        return source
    found = csv_sources(source)
    if len(found) > 1:
        raise SourceError(
            source,
            f"archive holds {len(found)} CSV files; read it with evaluation.sources.read_file",
            expected="one CSV",
            found=", ".join(s.member or "" for s in found),
        )
    return found[0]


def detect_encoding(raw: bytes) -> str:
    """``utf-8-sig`` (byte-order mark), ``utf-8``, or ``cp1252`` when the bytes are not valid UTF-8."""
    if raw.startswith(_BOM):
        return "utf-8-sig" if _valid_utf8(raw) else "cp1252"
    if raw.isascii():
        return "utf-8"
    return "utf-8" if _valid_utf8(raw) else "cp1252"


def _valid_utf8(raw: bytes, chunk: int = 1 << 20) -> bool:
    # Decode in slices so that validating a large file does not hold a second, decoded copy of it.
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        for i in range(0, len(raw), chunk):
            dec.decode(raw[i : i + chunk])
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def norm_name(name: object) -> str:
    """A column name as matched: trimmed, inner whitespace collapsed, case-folded."""
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


def read_header(source: CsvSource) -> list[str]:
    """The header row of a CSV, read from the start of the file only (cheap, for layout detection)."""
    head = source.read_bytes(limit=256 * 1024)
    if not head or head.isspace():
        raise SourceError(
            source.label, "empty file (no header row)", row=1, expected="a header row naming the columns"
        )
    _refuse_binary(source.label, head)
    _refuse_cr_only(source.label, head)
    text = head.decode(detect_encoding(head), errors="replace").lstrip("\ufeff")
    return [c.strip() for c in parse_record(source.label, text, 1)]


def parse_record(label: str, text: str, line: int) -> list[str]:
    """The fields of the first CSV record in ``text`` (which starts at file line ``line``); a record the csv
    module cannot read (a field over its size limit, a stray line break) is a :class:`SourceError`."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise SourceError(
            label, f"cannot be parsed as CSV ({exc})", row=line, expected="a CSV text file, one record per row"
        ) from None


def _refuse_cr_only(label: str, head: bytes) -> None:
    """Refuse line breaks that are carriage returns alone (classic Mac OS), which CSV parsers read as one line."""
    if b"\r" in head and b"\n" not in head.rstrip(b"\r"):
        raise SourceError(
            label,
            "lines end with a carriage return only (classic Mac OS line endings), so the file reads as one line",
            row=1,
            expected="Windows (CR LF) or Unix (LF) line endings (save the file again as CSV)",
        )


def _refuse_binary(label: str, head: bytes) -> None:
    """Refuse bytes that cannot be CSV text: a NUL byte never occurs in UTF-8 or Windows-1252 text, but does
    in spreadsheets, images, archives saved with the wrong extension and UTF-16 "Unicode text" exports."""
    pos = head.find(b"\0")
    if pos >= 0:
        raise SourceError(
            label,
            "not a text file (it contains NUL bytes: a binary file, or text saved as UTF-16?)",
            row=head.count(b"\n", 0, pos) + 1,
            expected="a CSV text file in UTF-8 or Windows-1252",
        )


def match_columns(
    label: str, header: Sequence[str], required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, str]:
    """Map each wanted column (as the layout names it) to the header cell that carries it.

    Matching ignores case and surrounding spaces; extra columns are ignored; order does not matter.
    Raises :class:`SourceError` naming the missing columns, the expected list and the found list.
    """
    by_norm: dict[str, str] = {}
    for h in header:
        key = norm_name(h)
        if key in by_norm and key:
            raise SourceError(label, f"column {h!r} appears more than once in the header")
        by_norm[key] = h
    missing = [c for c in required if norm_name(c) not in by_norm]
    if missing:
        raise SourceError(
            label,
            f"missing required column(s) {', '.join(missing)}",
            column=", ".join(missing),
            expected=", ".join(required),
            found=", ".join(h for h in header if h) or "no column names",
        )
    return {c: by_norm[norm_name(c)] for c in [*required, *optional] if norm_name(c) in by_norm}


TRUNCATED = "truncated row"
TOO_MANY_FIELDS = "more fields than the header"


@dataclass
class LoadedCsv:
    """A CSV read as text: wanted columns (renamed to the layout's names), line numbers, and what was odd.

    ``set_aside`` maps a reason to the file lines that could not be read as rows at all (a truncated last
    line, lines with more fields than the header); readers count them as read and rejected. ``blocking``
    holds problems that make the file unusable even though some rows could be read (a compressed file cut
    short: the rows after the cut are missing, not rejected).
    """

    source: CsvSource
    frame: pd.DataFrame
    lines: np.ndarray
    encoding: str
    set_aside: dict[str, list[int]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)

    def new_report(self, layout: str, per_row: int = 1) -> ReadReport:
        """A report for this CSV with the rows read (``per_row`` panel values per data row) and the lines
        set aside already counted as rejected."""
        report = ReadReport(path=self.source.label, layout=layout, sha256=sha256_file(self.source.path))
        n_aside = sum(len(v) for v in self.set_aside.values())
        report.rows_read = (len(self.frame) + n_aside) * per_row
        for reason, lines in self.set_aside.items():
            report.reject(reason, len(lines) * per_row)
        report.findings.extend(self.findings)
        report.blocking.extend(self.blocking)
        return report


def load_csv(
    source: CsvSource | Path | str,
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> LoadedCsv:
    """Read a CSV as text (every cell a ``str``) with only the wanted columns, renamed to the layout's names.

    Raises :class:`SourceError` for an empty file, a header-only file, line endings that are carriage returns
    only, or a missing required column. Lines that cannot be rows are counted as read and rejected (see
    :class:`LoadedCsv`): a last line with fewer fields than the header (a download cut short, a finding) and
    lines with more fields than the header (an unquoted comma, such as a thousands separator in ``1,234``,
    which would shift every later value: a blocking error naming the first such line).
    """
    source = as_single_source(source)
    label = source.label
    raw, complete = source.read_all()
    if not raw or raw.isspace():
        raise SourceError(label, "empty file (no header row)", row=1, expected="a header row naming the columns")
    _refuse_binary(label, raw[:_HEAD])
    _refuse_cr_only(label, raw[:_HEAD])
    encoding = detect_encoding(raw)
    findings: list[str] = []
    blocking: list[str] = []
    if not complete:
        findings.append(
            "The compressed file ends early (an interrupted download?); only complete rows were used."
        )
        # Unlike a bad row, the cut loses an unknown number of rows silently: the file cannot stand for
        # the publication until it is downloaded again.
        blocking.append(
            str(
                SourceError(
                    label,
                    "truncated: the compressed file ends early (an interrupted download?); "
                    "download it again",
                )
            )
        )
    if encoding == "cp1252":
        findings.append(
            "The file is not valid UTF-8, so it was read as Windows-1252 (as saved by Excel on Windows); "
            "check that accented letters and apostrophes in names look right."
        )
        raw = raw.removeprefix(_BOM)
    text_head = raw[:_HEAD].decode(encoding, errors="replace").lstrip("\ufeff")
    header = [c.strip() for c in parse_record(label, text_head, 1)]
    mapping = match_columns(label, header, required, optional)

    raw, truncated = _drop_truncated_last_line(label, raw, encoding, len(header))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            # No usecols: with usecols pandas silently drops surplus fields, hiding shifted rows.
            frame = pd.read_csv(
                io.BytesIO(raw),
                dtype=str,
                keep_default_na=False,
                encoding=encoding,
                encoding_errors="replace" if encoding == "cp1252" else "strict",
                engine="c",
                on_bad_lines="warn",
            )
        except pd.errors.ParserError as exc:  # e.g. a quote opened and never closed
            raise SourceError(
                label,
                f"cannot be parsed as CSV ({' '.join(str(exc).split())})",
                row=_line_from_parser_error(str(exc)),
            ) from None
        except pd.errors.EmptyDataError:
            raise SourceError(label, "empty file (no header row)", row=1) from None
    wide = sorted(
        int(n)
        for w in caught
        if issubclass(w.category, pd.errors.ParserWarning)
        for n in re.findall(r"Skipping line (\d+)", str(w.message))
    )
    wanted = {norm_name(v): k for k, v in mapping.items()}
    frame = frame[[c for c in frame.columns if norm_name(c) in wanted]]
    frame = frame.rename(columns={c: wanted[norm_name(c)] for c in frame.columns})
    if not len(frame) and not truncated and not wide:
        raise SourceError(label, "header row only, no data rows", row=2, expected="at least one data row")
    lines, wide = _record_lines(label, raw, encoding, len(frame), wide, len(header))
    set_aside = {}
    if truncated:
        set_aside[TRUNCATED] = truncated
        findings.append(
            f"The last line (line {truncated[0]}) has fewer fields than the header, as if the file was cut "
            "short; it was not used."
        )
    if wide:
        set_aside[TOO_MANY_FIELDS] = wide
        shown = ", ".join(str(n) for n in wide[:5]) + (" ..." if len(wide) > 5 else "")
        findings.append(
            f"{len(wide)} line(s) have more fields than the {len(header)} in the header (an unquoted comma "
            f"in a value?) and were not used: line(s) {shown}."
        )
        # A row with a surplus field has its values shifted: dropping it would open a silent gap in a
        # series, so the file cannot be used until the value is quoted or the separator removed.
        more = "" if len(wide) == 1 else f" ({len(wide)} lines, the first shown)"
        blocking.append(
            str(
                SourceError(
                    label,
                    f"more fields than the {len(header)} in the header, as an unquoted comma (a thousands "
                    f"separator such as 1,234, or a comma in a name) makes{more}",
                    row=wide[0],
                    expected="one field per column (quote values that hold commas; write numbers without "
                    "thousands separators)",
                    found=repr(_physical_line(raw, wide[0], encoding)),
                )
            )
        )
    return LoadedCsv(source, frame.reset_index(drop=True), lines, encoding, set_aside, findings, blocking)


def _physical_line(raw: bytes, number: int, encoding: str) -> str:
    """The text of 1-based line ``number`` of ``raw``."""
    pos = 0
    for _ in range(number - 1):
        pos = raw.find(b"\n", pos) + 1
        if pos == 0:
            return ""
    end = raw.find(b"\n", pos)
    return raw[pos : end if end >= 0 else len(raw)].decode(encoding, errors="replace").strip().lstrip("\ufeff")


def _drop_truncated_last_line(label: str, raw: bytes, encoding: str, n_fields: int) -> tuple[bytes, list[int]]:
    """Remove the last record when it has fewer fields than the header or an unclosed quote.

    The last record may span several lines (a line break inside a quoted field): it then starts at the
    line where the quotes it closes were opened.
    """
    # Index arithmetic rather than rstrip/slicing, so a large file is not copied just to look at its end.
    end = len(raw)
    while end and raw[end - 1 : end] in (b"\r", b"\n", b" ", b"\t"):
        end -= 1
    cut = raw.rfind(b"\n", 0, end)
    if cut < 0:  # header only
        return raw, []
    if not raw[cut + 1 : end].strip():
        return raw, []
    quotes = raw.count(b'"', cut + 1, end)
    if quotes % 2 and raw.count(b'"', 0, cut + 1) % 2:
        # The last line closes a quote opened on an earlier line: walk back to where the record starts.
        while cut > 0 and quotes % 2:
            prev = raw.rfind(b"\n", 0, cut)
            quotes += raw.count(b'"', prev + 1, cut)
            cut = prev
        if cut < 0:  # the "record" would include the header: leave it to the parser
            return raw, []
    last = raw[cut + 1 : end].decode(encoding, errors="replace")
    first_line = raw.count(b"\n", 0, cut + 1) + 1
    unclosed = last.count('"') % 2 == 1
    fields = parse_record(label, last, first_line) if not unclosed else []
    short = len(fields) < n_fields
    prev_cut = raw.rfind(b"\n", 0, cut)
    if short and not unclosed and prev_cut >= 0:
        # A header with trailing empty names (as some spreadsheets export) makes every row "short": compare
        # with the row before, which came through whole.
        prev = raw[prev_cut + 1 : cut].decode(encoding, errors="replace")
        if prev.count('"') % 2 == 0:
            short = len(fields) < len(parse_record(label, prev, first_line - 1))
    if unclosed or short:
        return raw[: cut + 1], [first_line]
    return raw, []


def _line_from_parser_error(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


_BLANK_LINE = re.compile(rb"\n[ \t]*\r?\n[^\r\n]")


def _record_lines(
    label: str, raw: bytes, encoding: str, n_rows: int, wide: list[int], n_fields: int
) -> tuple[np.ndarray, list[int]]:
    """The 1-based physical line each data row starts on, and the lines of the records pandas skipped for
    having more fields than the header.

    The fast path holds when every record is one line (no blank lines, no line breaks in quoted fields): the
    line count then equals the header, the rows and the skipped records. Otherwise the file is walked
    record by record with the csv module, which counts the physical lines each record spans.
    """
    n_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    if n_lines == 1 + n_rows + len(wide) and not _BLANK_LINE.search(raw):
        if not wide:
            return np.arange(2, n_rows + 2), []
        skip = set(wide)
        return np.asarray([n for n in range(2, n_lines + 1) if n not in skip][:n_rows]), wide
    text = raw.decode(encoding, errors="replace").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    starts: list[int] = []
    long_records: list[int] = []
    previous = 0
    try:
        for i, record in enumerate(reader):
            start, previous = previous + 1, reader.line_num
            if i == 0 or not record or (len(record) == 1 and not record[0].strip()):
                continue  # the header; blank lines are not rows
            (long_records if len(record) > n_fields else starts).append(start)
    except csv.Error as exc:
        raise SourceError(label, f"cannot be parsed as CSV ({exc})", row=previous + 1) from None
    if len(long_records) != len(wide):  # the two parsers disagree: keep pandas' count, which sets the rows
        long_records = (long_records + wide)[: len(wide)]
    return np.asarray(starts[:n_rows] + [0] * max(0, n_rows - len(starts))), long_records


# --------------------------------------------------------------------------------------------------
# Rejecting rows with balanced accounting


@dataclass(frozen=True)
class CellError:
    """What makes a rejection a data error rather than a row the evaluation merely does not use: the column at
    fault, what the layout expects there, and the cells (aligned with the rows in play) to quote."""

    column: str
    expected: str
    cells: pd.Series | None = None


class RowFilter:
    """Sets rows aside with a reason, each row counted once, under the first reason that applies.

    Masks passed to :meth:`reject` are aligned with the rows still in play; :meth:`compact` drops the rejected
    rows from a frame (call it on every aligned frame at once) so later checks run on fewer rows.
    ``scope`` reasons (rows the evaluation does not use, such as other breakdowns) are counted but not
    reported as data problems. A rejection with a :class:`CellError` is a data error: the rows are still
    counted (so the accounting balances), and :meth:`finish` also records one line in the report's
    ``blocking`` list naming the first offending line, the column, what was expected and what was found,
    which makes ``evaluation validate`` exit with status 2 and strict loading refuse the file.
    """

    def __init__(self, report: ReadReport, lines: np.ndarray, places: Sequence[str] | None = None) -> None:
        self.report = report
        self.lines = np.asarray(lines)
        # Where each row is, when a line number is not how its file is navigated (a spreadsheet cell).
        self.places = None if places is None else np.asarray(places, dtype=object)
        self.alive = np.ones(len(self.lines), dtype=bool)
        self._problems: dict[tuple[str, str], tuple[int, int]] = {}
        self._errors: dict[tuple[str, str], tuple[int, CellError, str, str | None]] = {}

    def reject(
        self,
        mask: Iterable[bool] | pd.Series | np.ndarray,
        reason: str,
        *,
        scope: bool = False,
        error: CellError | None = None,
    ) -> int:
        """Reject the rows in ``mask`` that are still alive; return how many."""
        m = np.asarray(mask, dtype=bool) & self.alive
        n = int(m.sum())
        if n:
            self.report.reject(reason, n)
            self.alive &= ~m
            if not scope:
                key = (reason, error.column if error else "")
                first_pos = int(np.flatnonzero(m)[0])
                count, first = self._problems.get(key, (0, int(self.lines[first_pos])))
                self._problems[key] = (count + n, first)
                if error is not None and key not in self._errors:
                    found = "" if error.cells is None else str(error.cells.iloc[first_pos]).strip()
                    place = None if self.places is None else str(self.places[first_pos])
                    self._errors[key] = (int(self.lines[first_pos]), error, found, place)
        return n

    def compact(self, *frames: pd.DataFrame) -> list[pd.DataFrame]:
        """Drop rejected rows from each frame (all aligned with the current rows) and reset the mask."""
        keep = self.alive
        out = [f.loc[keep].reset_index(drop=True) for f in frames]
        self.lines = self.lines[keep]
        if self.places is not None:
            self.places = self.places[keep]
        self.alive = np.ones(len(self.lines), dtype=bool)
        return out

    def finish(self, rows_kept: int, what: str = "") -> None:
        """Add the rows kept to the report, one finding per data problem (with the first line it occurred
        on; ``what`` names the measure when one file row gives several panel values), and one blocking line
        per data error."""
        self.report.rows_kept += rows_kept
        for (reason, _column), (count, first) in self._problems.items():
            where = "position unknown"
            if first > 0:
                where = f"line {first}" if count == 1 else f"first at line {first}"
            prefix = f"{what}: " if what else ""
            self.report.findings.append(f"{prefix}{count} row(s) not used: {reason} ({where}).")
        for key, (line, error, found, place) in self._errors.items():
            count = self._problems[key][0]
            more = "" if count == 1 else f" ({count} rows, the first shown)"
            message = str(
                SourceError(
                    self.report.path,
                    f"{key[0]}{more}",
                    row=line if line > 0 else None,
                    column=error.column,
                    expected=error.expected,
                    found=repr(found) if error.cells is not None else None,
                    place=None if place is None else f"{place} (column {error.column})",
                )
            )
            # Without a known line the column is still the most useful pointer, so it goes in the text.
            if line <= 0:
                message = message.replace(f": {key[0]}", f": column {error.column}: {key[0]}", 1)
            if message not in self.report.blocking:
                self.report.blocking.append(message)


# --------------------------------------------------------------------------------------------------
# Parsing cells


def clean(series: pd.Series) -> pd.Series:
    """Cells as trimmed text."""
    return series.astype(str).str.strip()


_TIME_SUFFIX = re.compile(r"[ T]00:00(:00(\.0+)?)?$")


def parse_dates(series: pd.Series) -> pd.Series:
    """dd/mm/yyyy (or yyyy-mm-dd) text to Timestamps; anything else becomes NaT.

    Each distinct text is parsed once: published files repeat a handful of dates over many rows.
    """
    text = clean(series)
    if text.empty:  # every row already set aside: the lookup below cannot be built from no text
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    uniques = pd.Series(pd.unique(text))
    bare = uniques.str.replace(_TIME_SUFFIX, "", regex=True)
    parsed = pd.to_datetime(bare, format="%d/%m/%Y", errors="coerce")
    iso = parsed.isna()
    if iso.any():
        parsed[iso] = pd.to_datetime(bare[iso], format="%Y-%m-%d", errors="coerce")
    lookup = pd.Series(parsed.to_numpy(), index=uniques.to_numpy())
    return pd.Series(text.map(lookup).to_numpy(dtype="datetime64[ns]"), index=series.index)


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Text cells to floats. Returns (values, empty mask, non-numeric mask); empty and bad cells are NaN."""
    text = clean(series)
    empty = text.eq("")
    values = pd.to_numeric(text.where(~empty, None), errors="coerce").astype("float64")
    bad = ~np.isfinite(values) & ~empty  # "nan" and "inf" parse as floats but are not figures
    values = values.where(~bad)
    return values, empty, bad


def month_start(ts: pd.Series) -> pd.Series:
    """The first day of each Timestamp's month."""
    return ts.dt.to_period("M").dt.to_timestamp()


def months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Calendar months from ``start``'s month to ``end``'s month, inclusive (Jan..Mar = 3)."""
    return (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month) + 1


def add_flag(flags: pd.Series, mask: pd.Series | np.ndarray, flag: str) -> pd.Series:
    """Append ``flag`` to the ``;``-separated quality flags of the rows in ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    joined = np.where(flags.eq("").to_numpy(), flag, (flags + ";" + flag).to_numpy())
    return pd.Series(np.where(mask, joined, flags.to_numpy()), index=flags.index, dtype=object)


#: ODS organisation codes are 3 (trusts) to 5 (sites, commissioners) letters and digits.
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,5}$")
ODS_EXPECTED = "an ODS organisation code (3 to 5 letters and digits, e.g. RDY)"


def malformed_org_codes(codes: pd.Series) -> pd.Series:
    """Non-empty codes that cannot be ODS codes (a name typed where the code belongs, stray punctuation)."""
    uniques = pd.unique(codes)
    bad = {c for c in uniques if c and not _ODS_CODE.match(c)}
    return codes.isin(bad) if bad else pd.Series(False, index=codes.index)


def future_periods(period: pd.Series, today: pd.Timestamp | None = None) -> pd.Series:
    """Periods that start after the current month: no figures can exist for them yet (usually a typed year)."""
    now = (today or pd.Timestamp.today()).to_period("M").to_timestamp()
    return period > now


DATE_EXPECTED = "a date as dd/mm/yyyy (or yyyy-mm-dd)"
