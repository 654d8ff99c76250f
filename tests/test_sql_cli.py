"""`dropscore sql`: read-only ad-hoc SQL on the published warehouse, as table, CSV or JSON."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from dropscore.cli import cli
from dropscore.config import PROJECT_DIR
from dropscore.safe_csv import dataframe_csv, neutralise_cell
from dropscore.sql import run_query

SMALL_QUERY = (
    "select * from (values (1, 'Shenzhen Gadgets', 0.25, true, date '2026-11-16'),"
    " (22, 'Yiwu', null, false, null)) as t(n, supplier_name, ratio, is_bad, week_start)"
)


def sql(settings, *arguments: str):
    return CliRunner().invoke(cli, ["sql", "--home", str(settings.home), *arguments])


def published(settings, query: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(query).fetchall()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_table_output_aligns_columns_and_spells_out_null(built_settings):
    result = sql(built_settings, SMALL_QUERY)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        " n  supplier_name     ratio  is_bad  week_start\n"
        "--  ----------------  -----  ------  ----------\n"
        " 1  Shenzhen Gadgets   0.25  true    2026-11-16\n"
        "22  Yiwu               NULL  false   NULL\n"
    )


def test_csv_output(built_settings):
    result = sql(built_settings, "--format", "csv", SMALL_QUERY)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "n,supplier_name,ratio,is_bad,week_start\n"
        "1,Shenzhen Gadgets,0.25,true,2026-11-16\n"
        "22,Yiwu,,false,\n"
    )


def test_json_output(built_settings):
    result = sql(built_settings, "--format", "json", SMALL_QUERY)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "n": 1,
            "supplier_name": "Shenzhen Gadgets",
            "ratio": 0.25,
            "is_bad": True,
            "week_start": "2026-11-16",
        },
        {"n": 22, "supplier_name": "Yiwu", "ratio": None, "is_bad": False, "week_start": None},
    ]
    assert result.stdout.startswith('[\n  {\n    "n": 1,\n')


def test_json_output_keeps_repeated_columns_and_writes_no_bare_nan(built_settings):
    query = (
        "select 1 as a, 2 as a, 'nan'::double as x,"
        " ['inf'::double, '-inf'::double, 0.5] as l, {'k': 'nan'::double} as s,"
        " map(['nan'::double, 1.5], [1, 2]) as m, map([date '2020-01-01'], [3]) as d"
    )
    result = sql(built_settings, "--format", "json", query)

    assert result.exit_code == 0, result.output

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    assert json.loads(result.stdout, parse_constant=refuse) == [
        {
            "a": 1,
            "a_1": 2,
            "x": "NaN",
            "l": ["Infinity", "-Infinity", 0.5],
            "s": {"k": "NaN"},
            "m": {"NaN": 1, "1.5": 2},
            "d": {"2020-01-01": 3},
        }
    ]


def test_a_query_on_the_marts_matches_duckdb(built_settings):
    query = (
        "select verdict, count(*) as suppliers from marts.fct_supplier_scorecard"
        " group by verdict order by verdict"
    )

    result = sql(built_settings, "--format", "csv", query)

    assert result.exit_code == 0, result.output
    expected = [["verdict", "suppliers"]] + [
        [verdict, str(count)] for verdict, count in published(built_settings, query)
    ]
    assert list(csv.reader(io.StringIO(result.stdout))) == expected


def test_csv_neutralises_formulas_in_text_but_not_negative_numbers(built_settings):
    result = sql(
        built_settings,
        "--format",
        "csv",
        "select '=HYPERLINK(\"x\")' as \"=name\", '+1' as plus, '-2' as minus, '@SUM(A1)' as at,"
        " chr(9) || '=1' as tab, 'plain' as plain, -3.5 as negative",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "'=name,plus,minus,at,tab,plain,negative\n"
        '"\'=HYPERLINK(""x"")",\'+1,\'-2,\'@SUM(A1),\'\t=1,plain,-3.5\n'
    )


def test_the_shared_csv_helper_neutralises_dataframes_too():
    import pandas

    frame = pandas.DataFrame(
        {"supplier_name": ["=cmd|' /C calc'!A0", "Fine"], "loss": [-1.5, None]}
    )

    assert neutralise_cell("@x") == "'@x"
    assert neutralise_cell(-1) == -1
    assert dataframe_csv(frame) == "supplier_name,loss\n'=cmd|' /C calc'!A0,-1.5\nFine,\n"


def test_table_output_shows_control_characters_as_escapes(built_settings):
    result = sql(built_settings, "select 'a' || chr(27) || '[2Jb' || chr(10) || 'c' as name")

    assert result.exit_code == 0, result.output
    assert result.stdout == "name\n------------\na\\x1b[2Jb\\nc\n"


def test_a_bidirectional_override_is_shown_as_an_escape_not_obeyed(built_settings):
    # U+202E would show the rest of the line reversed: 'evil' as 'live'
    result = sql(built_settings, "select 'x' || chr(8238) || 'evil' as name")

    assert result.exit_code == 0, result.output
    assert result.stdout == "name\n-----------\nx\\u202eevil\n"


def test_data_written_to_a_file_keeps_its_control_characters(built_settings):
    # Left alone, click would take the escape sequence out of the value (and change it).
    result = sql(built_settings, "--format", "csv", "select 'a' || chr(27) || '[31mred' as name")

    assert result.exit_code == 0, result.output
    assert result.stdout == "name\na\x1b[31mred\n"


def test_csv_written_to_a_terminal_shows_control_characters_as_escapes():
    from dropscore.sql_output import render

    rows = [("a\x1b[2Jb", 1), ("line\nbreak", 2)]
    assert render(["name", "n"], rows, "csv", terminal=True) == (
        "name,n\na\\x1b[2Jb,1\nline\\nbreak,2\n"
    )
    assert render(["name", "n"], rows, "csv") == 'name,n\na\x1b[2Jb,1\n"line\nbreak",2\n'


def test_an_error_quoting_a_value_shows_its_control_characters_as_escapes(built_settings):
    result = sql(built_settings, "select cast('a' || chr(27) || '[2J' as integer)")

    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "a\\x1b[2J" in result.stderr


def test_row_cap_says_on_stderr_that_there_were_more(built_settings):
    result = sql(built_settings, "--max-rows", "2", "select range as n from range(5)")

    assert result.exit_code == 0
    assert result.stdout == "n\n-\n0\n1\n"
    assert result.stderr == "stopped at 2 rows; raise --max-rows to see more\n"


def test_a_query_past_its_time_limit_is_stopped(built_settings):
    result = sql(built_settings, "--timeout", "0.2", "select count(*) from range(1000000000000)")

    assert result.exit_code == 1
    assert result.stderr == "Error: refused: the query ran longer than 0.2 s and was stopped\n"


def test_schema_lists_tables_and_columns_with_their_descriptions(built_settings):
    ((table_comment, verdict_comment),) = published(
        built_settings,
        "select any_value(tables.comment), any_value(columns.comment)"
        " from duckdb_tables() as tables join duckdb_columns() as columns using (table_oid)"
        " where tables.schema_name = 'marts' and tables.table_name = 'fct_supplier_scorecard'"
        " and columns.column_name = 'verdict'",
    )

    result = sql(built_settings, "--schema")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    table = f"marts.fct_supplier_scorecard  {' '.join(table_comment.split())}"
    assert table in lines
    index = lines.index(table)
    columns = lines[index + 1 : lines.index("", index)]
    verdict = next(line for line in columns if line.split()[0] == "verdict")
    assert verdict.split()[1] == "VARCHAR"
    assert verdict.endswith(f"  {' '.join(verdict_comment.split())}")
    assert len(columns) == len(
        published(
            built_settings,
            "select * from duckdb_columns() where schema_name = 'marts'"
            " and table_name = 'fct_supplier_scorecard'",
        )
    )


def test_schema_as_json_has_one_record_per_table_and_column(built_settings):
    result = sql(built_settings, "--schema", "--format", "json")

    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    columns = {
        (record["table_schema"], record["table_name"], record["column_name"]) for record in records
    }
    expected = set(
        published(
            built_settings,
            "select schema_name, table_name, column_name from duckdb_columns()"
            " where database_name = current_database()",
        )
    )
    assert expected <= columns
    assert ("marts", "fct_supplier_scorecard", "") in columns


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "Error: give either a QUERY or --schema"),
        (["--schema", "select 1"], "Error: give either a QUERY or --schema"),
    ],
)
def test_a_query_or_schema_is_required(built_settings, arguments, message):
    result = sql(built_settings, *arguments)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == message


def test_without_a_published_warehouse_it_says_to_run_first(settings):
    result = sql(settings, "select 1")

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no published warehouse at {settings.warehouse_path}; run `dropscore run` first\n"
    )


FILES = "refused: queries may not read or write files"
READ_ONLY = "refused: the warehouse is read-only"
SETTINGS = "refused: queries may not change settings"
EXTENSIONS = "refused: queries may not install or load extensions"
TABLE_FUNCTION = "is not allowed; read a table function with SELECT * FROM name()"

# {outside} is a scratch folder a query must not write into.
ESCAPES = [
    ("select * from read_csv('/etc/passwd')", f"{FILES} (/etc/passwd)"),
    ("select * from read_text('/etc/passwd')", f"{FILES} (/etc/passwd)"),
    ("select * from read_blob('/etc/shadow')", f"{FILES} (/etc/shadow)"),
    ("select * from glob('/etc/*')", f"{FILES} (/etc/*)"),
    (
        "select * from read_parquet('https://example.com/x.parquet')",
        f"{FILES} (https://example.com/x.parquet)",
    ),
    ("copy marts.fct_supplier_scorecard to '{outside}/leak.csv'", f"{FILES} (COPY)"),
    ("copy (select 1) to '{outside}/leak.parquet' (format parquet)", f"{FILES} (COPY)"),
    ("export database '{outside}/dump'", f"{FILES} (EXPORT)"),
    (
        "attach '{outside}/other.duckdb' as other",
        "refused: queries may not attach or detach databases (ATTACH)",
    ),
    ("install httpfs", f"{EXTENSIONS} (LOAD)"),
    ("load httpfs", f"{EXTENSIONS} (LOAD)"),
    ("set enable_external_access = true", f"{SETTINGS} (SET)"),
    ("reset memory_limit", f"{SETTINGS} (SET)"),
    ("pragma enable_profiling", f"refused: PRAGMA {TABLE_FUNCTION}"),
    ("call pragma_version()", f"refused: CALL {TABLE_FUNCTION}"),
    ("create table marts.leak as select 1 as x", f"{READ_ONLY} (CREATE)"),
    ("create view main.leak as select 1 as x", f"{READ_ONLY} (CREATE)"),
    ("insert into marts.dim_suppliers (supplier_id) values ('x')", f"{READ_ONLY} (INSERT)"),
    ("update marts.fct_supplier_scorecard set verdict = 'good'", f"{READ_ONLY} (UPDATE)"),
    ("delete from marts.fct_order_lines", f"{READ_ONLY} (DELETE)"),
    ("drop table marts.fct_supplier_scorecard", f"{READ_ONLY} (DROP)"),
    ("alter table marts.dim_suppliers rename to gone", f"{READ_ONLY} (ALTER)"),
    (
        "select 1; drop table marts.fct_supplier_scorecard",
        "refused: expected exactly one SQL statement, found 2",
    ),
    ("select 1; select 2; select 3", "refused: expected exactly one SQL statement, found 3"),
    ("select * from enable_logging()", f"{SETTINGS} (enable_logging)"),
]


@pytest.fixture(scope="module")
def published_sha256(built_settings) -> str:
    return sha256(built_settings.warehouse_path)


@pytest.mark.parametrize(("query", "message"), ESCAPES, ids=[query for query, _ in ESCAPES])
def test_escape_attempt_is_refused_in_one_line_and_changes_nothing(
    built_settings, published_sha256, tmp_path, query, message
):
    neighbours = sorted(built_settings.home.iterdir())

    result = sql(built_settings, query.format(outside=tmp_path))

    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert sha256(built_settings.warehouse_path) == published_sha256
    assert sorted(built_settings.home.iterdir()) == neighbours
    assert list(tmp_path.iterdir()) == []


DOCS = PROJECT_DIR / "docs" / "sql.md"
DOCUMENTED_QUERIES = re.findall(r"^```sql\n(.*?)^```$", DOCS.read_text(), re.MULTILINE | re.DOTALL)


def test_the_docs_answer_at_least_ten_questions():
    assert len(DOCUMENTED_QUERIES) >= 10


@pytest.mark.parametrize(
    "query",
    DOCUMENTED_QUERIES,
    ids=[f"docs-query-{n}" for n in range(1, len(DOCUMENTED_QUERIES) + 1)],
)
def test_every_query_in_the_docs_runs_on_a_built_warehouse(built_settings, query):
    result = run_query(built_settings.warehouse_path, query)

    assert result.columns
    assert not result.truncated
