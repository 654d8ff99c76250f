"""Fuzzing every input format (SPEC §3.2): whatever bytes arrive, a file either loads whole or is
refused with the project's one-line InputError; never another exception, never a partial load,
never a change to what was loaded before.

Each format starts from a real, valid file and hypothesis mutates it: cells replaced with
hostile or random text, rows and columns dropped, duplicated, reordered or renamed, ragged rows,
BOMs, CRLF, comments, other encodings, truncation, stray bytes; JSON keys dropped or given
values of any type, arrays unwrapped, lines split. One build file per format takes every
example in turn, so a failure that left a transaction open or a half-loaded table would show in
the next example too.

A second property holds for the CSV formats: reading timestamps, counts and amounts typed (the
loader's first try) changes nothing, every mutated file loads to the same rows, or is refused
with the same message, as when every cell is read as text.

Adding a format is one line in SEEDS. CI runs the same 200 examples per format every time; for a
long hunt, `DROPSCORE_FUZZ_EXAMPLES=5000 DROPSCORE_FUZZ_RANDOM=1 pytest tests/test_fuzz_ingest.py`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropscore.config import PROJECT_DIR
from ingest.errors import InputError
from ingest.formats import FORMATS
from ingest.loader import ensure_raw_schema, load_files, read_header
from ingest.spec import READ_TYPED

FIXTURES = PROJECT_DIR / "tests" / "fixtures"

# (format, a valid file of that format): the starting points of the mutations.
SEEDS = [
    ("dropscore-orders", PROJECT_DIR / "data" / "sample" / "orders.csv"),
    ("dropscore-disputes", PROJECT_DIR / "data" / "sample" / "disputes.csv"),
    ("order-links", FIXTURES / "mixed" / "order_links.csv"),
    ("shopify-orders", FIXTURES / "real" / "shopify_orders_export_devstore.csv"),
    ("shopify-transactions", FIXTURES / "real" / "shopify_transactions_export_with_refunds.csv"),
    ("aliexpress-orders-csv", FIXTURES / "real" / "aliexpress_buyer_orders_shopper_inventory.csv"),
    (
        "aliexpress-orders-json",
        FIXTURES / "real" / "aliexpress_buyer_orders_shopper_inventory.json",
    ),
    ("aliexpress-ds-orders", FIXTURES / "mixed" / "aliexpress_api_orders.jsonl"),
]
EXAMPLES = int(os.environ.get("DROPSCORE_FUZZ_EXAMPLES", 200))
RANDOM = os.environ.get("DROPSCORE_FUZZ_RANDOM") == "1"
SEED_RECORDS = 12  # a large sample is cut to its first records: mutations, not volume

# Cells real files and hostile ones hold: formulas, overflow, impossible dates, spreadsheet
# damage, quoting and encoding traps, injection attempts.
HOSTILE = [
    "", " ", "=1+1", "+1", "-1", "@SUM(A1)", "0", "-0.01", "0.001", "1e309", "NaN", "inf",
    "99999999999999999999999999", "2026-02-30", "2026-13-01T00:00:00Z", "0000-00-00",
    "9999-12-31T23:59:59Z", "2026-01-01 10:00:00 +2500", "1700000000000", "null", "NULL",
    '"', '""', ",", "\n", "\r", "\x00", "\ufeff", "é", "😀", "US $", "US $-1.00", "129,46zł",
    "5.37518E+12", "'92591", "'3", "'12.50", "2026-05-25 03:32:27 -0400", "7.885", "0x10", "1_000",
    "2026-05-25 03:32:27 EST", "#1001", "a" * 300, "true", "[]", "{}",
    "'); drop table raw.loads; --", '" or 1=1 --', "${jndi:ldap://x}", "../../etc/passwd",
]  # fmt: skip

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(HOSTILE),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def seed_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".csv":
        lines = data.splitlines(keepends=True)
        header = next(i for i, line in enumerate(lines) if not line.lstrip().startswith(b"#"))
        return b"".join(lines[: header + 1 + SEED_RECORDS])
    return data


# --- mutations --------------------------------------------------------------------------------


def cell_values(draw, rows: list[list[str]], column: int) -> str:
    same_column = [row[column] for row in rows if column < len(row)]
    return draw(
        st.one_of(
            st.sampled_from(HOSTILE),
            st.text(max_size=20),
            st.sampled_from(same_column or [""]),
            st.sampled_from([cell for row in rows for cell in row] or [""]),
        )
    )


@st.composite
def mutated_csv(draw, seed: bytes) -> bytes:
    text = seed.decode("utf-8-sig")
    lines = text.splitlines(keepends=True)
    header_at = next(i for i, line in enumerate(lines) if not line.lstrip().startswith("#"))
    comments = lines[:header_at]
    header, *rows = list(csv.reader(io.StringIO("".join(lines[len(comments) :]))))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "cell", "cell", "cell", "drop row", "duplicate row", "swap rows",
                    "drop column", "duplicate column", "rename column", "shuffle columns",
                    "shout header", "ragged row", "comment", "no rows", "blank line",
                ]
            )
        )  # fmt: skip
        width = len(header)
        if kind == "cell" and rows:
            row = draw(st.sampled_from(rows))
            column = draw(st.integers(0, max(0, len(row) - 1)))
            if row:
                row[column] = cell_values(draw, rows, column)
        elif kind == "drop row" and rows:
            rows.pop(draw(st.integers(0, len(rows) - 1)))
        elif kind == "duplicate row" and rows:
            rows.insert(draw(st.integers(0, len(rows))), list(draw(st.sampled_from(rows))))
        elif kind == "swap rows" and len(rows) > 1:
            i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(rows) - 1))
            rows[i], rows[j] = rows[j], rows[i]
        elif kind == "drop column" and width > 1:
            column = draw(st.integers(0, width - 1))
            for row in [header, *rows]:
                if column < len(row):
                    row.pop(column)
        elif kind == "duplicate column" and width:
            column = draw(st.integers(0, width - 1))
            for row in [header, *rows]:
                if column < len(row):
                    row.append(row[column])
        elif kind == "rename column" and width:
            header[draw(st.integers(0, width - 1))] = draw(
                st.sampled_from(HOSTILE) | st.text(max_size=12) | st.sampled_from(header)
            )
        elif kind == "shuffle columns" and width:
            order = draw(st.permutations(range(width)))
            header, rows = (
                [header[i] for i in order],
                [[row[i] if i < len(row) else "" for i in order] for row in rows],
            )
        elif kind == "shout header":
            header = [f"  {name.upper()} " for name in header]
        elif kind == "ragged row" and rows:
            row = draw(st.sampled_from(rows))
            if draw(st.booleans()) and row:
                row.pop()
            else:
                row.append(draw(st.sampled_from(HOSTILE)))
        elif kind == "comment":
            comments.append(f"# {draw(st.text(max_size=20))}\n".replace("\r", ""))
        elif kind == "no rows":
            rows = []
        elif kind == "blank line" and rows:
            rows.insert(draw(st.integers(0, len(rows))), [])
    out = io.StringIO()
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    out.writelines(comment.rstrip("\r\n") + ending for comment in comments)
    csv.writer(out, lineterminator=ending).writerows([header, *rows])
    return encoded(draw, out.getvalue())


def json_slots(value, found: list) -> list:
    """Every (container, key) in a JSON value, to pick one to change."""
    if isinstance(value, dict):
        for key, inner in value.items():
            found.append((value, key))
            json_slots(inner, found)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.append((value, index))
            json_slots(inner, found)
    return found


@st.composite
def mutated_json(draw, seed: bytes) -> bytes:
    text = seed.decode("utf-8-sig").strip()
    if text.startswith("["):
        records = json.loads(text)
    else:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                ["value", "value", "value", "drop key", "drop record", "duplicate record",
                 "stringify", "wrap", "empty"]
            )
        )  # fmt: skip
        slots = json_slots(records, [])
        if kind == "value" and slots:
            container, key = draw(st.sampled_from(slots))
            container[key] = draw(JSON_VALUES)
        elif kind == "drop key":
            keyed = [(c, k) for c, k in slots if isinstance(c, dict)]
            if keyed:
                container, key = draw(st.sampled_from(keyed))
                container.pop(key, None)
        elif kind == "drop record" and records:
            records.pop(draw(st.integers(0, len(records) - 1)))
        elif kind == "duplicate record" and records:
            records.append(json.loads(json.dumps(draw(st.sampled_from(records)))))
        elif kind == "stringify" and slots:
            container, key = draw(st.sampled_from(slots))
            container[key] = json.dumps(container[key])
        elif kind == "wrap" and records:
            records = [{draw(st.text(max_size=10)): records[0]}, *records[1:]]
        elif kind == "empty":
            records = []
    shape = draw(st.sampled_from(["array", "lines", "first object"]))
    if shape == "array":
        text = json.dumps(records, indent=draw(st.sampled_from([None, 2])))
    elif shape == "lines":
        text = "\n".join(json.dumps(record) for record in records)
    else:
        text = json.dumps(records[0] if records else {})
    return encoded(draw, text)


def encoded(draw, text: str) -> bytes:
    """The text as a file might hold it, sometimes damaged at the byte level."""
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "latin-1", "utf-16"]))
    data = (
        text.encode(encoding, errors="replace")
        if encoding != "utf-8-sig"
        else (codecs.BOM_UTF8 + text.encode())
    )
    damage = draw(st.sampled_from([None] * 6 + ["truncate", "insert", "flip"]))
    if damage and data:
        at = draw(st.integers(0, len(data) - 1))
        if damage == "truncate":
            data = data[:at]
        elif damage == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        else:
            data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    return data


# --- the property ---------------------------------------------------------------------------


def raw_state(con: duckdb.DuckDBPyConnection, loaded_up_to: int) -> dict[str, tuple]:
    """Per raw table: (count, digest) of the rows of loads up to `loaded_up_to`, and of the rows
    of later loads. Digests are sums of row hashes, so the two add up to the whole table's."""
    tables = [
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
        ).fetchall()
    ]
    union = " union all ".join(
        f"""select '{table}',
        count(*) filter (where load_id <= $up_to),
        coalesce(sum(hash(t)) filter (where load_id <= $up_to), 0),
        count(*) filter (where load_id > $up_to),
        coalesce(sum(hash(t)) filter (where load_id > $up_to), 0)
        from raw."{table}" as t"""
        for table in tables
    )
    return {
        table: ((count, digest), (later, later_digest))
        for table, count, digest, later, later_digest in con.execute(
            union, {"up_to": loaded_up_to}
        ).fetchall()
    }


def whole(state: dict[str, tuple]) -> dict[str, tuple]:
    """Each table's (count, digest) over all its rows."""
    return {
        table: (earlier[0] + later[0], earlier[1] + later[1])
        for table, (earlier, later) in state.items()
    }


def last_load_id(con) -> int:
    return con.execute("select coalesce(max(load_id), 0) from raw.loads").fetchone()[0]


def seed_id(seed) -> str:
    name, path = seed.values if hasattr(seed, "values") else seed
    return f"{name}:{path.name}"


@pytest.mark.parametrize(("format_name", "seed"), SEEDS, ids=[seed_id(seed) for seed in SEEDS])
def test_any_input_loads_whole_or_is_refused_in_one_line_and_earlier_data_stays(
    format_name, seed, tmp_path
):
    fmt = FORMATS[format_name]
    valid = seed_bytes(seed)
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    ensure_raw_schema(con)
    # The seed itself loads: the mutations start from a valid file, and there is earlier data.
    first = tmp_path / f"seed{seed.suffix}"
    first.write_bytes(valid)
    assert [result.format for result in load_files(con, [first], salt="fuzz")] == [format_name]
    outcomes = {"loaded": 0, "unchanged": 0, "refused": 0}
    tables = whole(raw_state(con, 0))  # what the build file holds, kept up to date
    strategy = mutated_json(valid) if fmt.shape == "json" else mutated_csv(valid)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,  # CI sees the same examples every time
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=strategy, detect=st.booleans())
    def load_one(data: bytes, detect: bool) -> None:
        path = tmp_path / f"export{seed.suffix}"
        path.write_bytes(data)
        up_to = last_load_id(con)
        try:
            results = load_files(con, [path], None if detect else fmt, salt="fuzz")
        except InputError as error:
            outcomes["refused"] += 1
            message = str(error)
            assert message.startswith(str(path)) and "\n" not in message, message
            after = raw_state(con, up_to)
            # Everything loaded before is exactly as it was; the one new row records the refusal.
            assert {table: earlier for table, (earlier, _) in after.items()} == tables
            assert {table: later[0] for table, (_, later) in after.items() if later[0]} == {
                "loads": 1
            }
            assert con.execute(
                "select outcome from raw.loads where load_id > ?", [up_to]
            ).fetchall() == [("failed",)]
            tables.update(whole(after))
            return
        (result,) = results
        outcomes[result.outcome] += 1
        after = raw_state(con, up_to)
        # Everything loaded before is exactly as it was; new rows belong to this load only.
        assert {table: earlier for table, (earlier, _) in after.items()} == tables
        if result.outcome == "unchanged":
            assert all(later == (0, 0) for _, later in after.values())
        else:
            assert result.load_id == up_to + 1
            assert result.format in FORMATS
            assert con.execute(
                "select outcome, rows_loaded from raw.loads where load_id > ?", [up_to]
            ).fetchall() == [("loaded", result.rows)]
        tables.update(whole(after))

    load_one()
    con.close()
    print(f"\n{format_name} ({seed.name}): {EXAMPLES} examples, {outcomes}")
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0, outcomes  # both paths exercised


# What the fuzzing found, kept as plain examples: each must be refused in one line.
ALIEXPRESS_HEADER = (
    "Order Date,Order ID,Title,Qty,Price,Store,Product ID,SKU ID,Attributes,Price Info,Currency,"
    "Status,Product Url,Product Image Url,Store Url,Tags\n"
)
REGRESSIONS = [
    pytest.param(
        "aliexpress-orders-csv",
        ALIEXPRESS_HEADER
        + "2026-02-20,3069099405659913,Cleaner,1,12000044304276428,Store,1005008226693966,"
        "12000044304276428,,,USD,Completed,,,https://www.aliexpress.com/store/1103582642,\n",
        "line 2, column 'Price'",
        id="price too large for decimal(18, 2)",
    ),
]


@pytest.mark.parametrize(("format_name", "text", "where"), REGRESSIONS)
def test_fuzz_regression_refused_in_one_line(format_name, text, where, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    with pytest.raises(InputError) as refused:
        load_files(con, [path], FORMATS[format_name], salt="fuzz")
    assert str(refused.value).startswith(f"{path}, {where}: ")


# The CSV seeds with cells the loader reads typed when it can (ingest.spec.READ_TYPED).
TYPED_SEEDS = [
    (name, path)
    for name, path in SEEDS
    if FORMATS[name].shape == "csv"
    and any(
        column.kind in READ_TYPED and column.name in read_header(path).columns
        for column in FORMATS[name].columns
    )
]


@pytest.mark.parametrize(
    ("format_name", "seed"), TYPED_SEEDS, ids=[seed_id(seed) for seed in TYPED_SEEDS]
)
def test_reading_cells_typed_changes_nothing_a_file_loads_or_is_refused_as_read_as_text(
    format_name, seed, tmp_path
):
    fmt = FORMATS[format_name]
    cons = {
        read_typed: duckdb.connect(str(tmp_path / f"{read_typed}.duckdb"))
        for read_typed in (True, False)
    }
    for con in cons.values():
        ensure_raw_schema(con)
    reads = {"typed": 0, "text": 0, "refused": 0}

    @settings(
        max_examples=EXAMPLES // 2,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=mutated_csv(seed_bytes(seed)))
    def load_both(data: bytes) -> None:
        path = tmp_path / "export.csv"
        path.write_bytes(data)
        outcomes = {}
        for read_typed, con in cons.items():
            up_to = last_load_id(con)
            try:
                (result,) = load_files(con, [path], fmt, salt="fuzz", read_typed=read_typed)
                outcome = (result.outcome, result.rows, result.rejected)
                if read_typed and result.outcome == "loaded":
                    reads[result.read] += 1
            except InputError as error:
                outcome = ("refused", str(error))
                reads["refused"] += read_typed
            later = {table: rows for table, (_, rows) in raw_state(con, up_to).items()}
            loads = con.execute(
                "select outcome, rows_loaded, rows_rejected, message from raw.loads"
                " where load_id > ?",
                [up_to],
            ).fetchall()
            del later["loads"]  # it differs in loaded_at; compared without it
            outcomes[read_typed] = (outcome, later, loads)
        assert outcomes[True] == outcomes[False]

    load_both()
    for con in cons.values():
        con.close()
    print(f"\n{format_name} ({seed.name}): {EXAMPLES // 2} examples, {reads}")
    assert reads["typed"] > 0 and reads["refused"] > 0, reads
