"""The `dropscore` command: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import functools
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dropscore import __version__
from dropscore.config import PROJECT_DIR, Settings
from dropscore.controls import escape_controls
from dropscore.warehouse import WarehouseError
from ingest.errors import InputError
from ingest.formats import FORMATS, TEMPLATES

if TYPE_CHECKING:
    from concurrent.futures import Future


def user_errors(command):
    """Turn a user's mistake into one line and exit code 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (InputError, WarehouseError) as error:
            raise click.ClickException(str(error)) from None

    return wrapper


def home_option(command):
    @click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="DROPSCORE_HOME",
        default="data",
        show_default=True,
        help="Folder holding the warehouse, reports and logs (env DROPSCORE_HOME).",
    )
    @functools.wraps(command)
    def wrapper(*args, home: Path, **kwargs):
        return command(*args, settings=Settings.from_env(home), **kwargs)

    return wrapper


def var_option(command):
    return click.option(
        "--var",
        "dbt_vars",
        multiple=True,
        metavar="NAME=VALUE",
        help="Override a dbt var for this build (thresholds, windows; null for none); repeatable.",
    )(command)


def parse_vars(pairs: tuple[str, ...]) -> dict[str, object]:
    parsed: dict[str, object] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--var")
        parsed[name] = _checked_var(name, _var_value(value))
    return parsed


def _checked_var(name: str, value: object) -> object:
    """The value, if the project has the var and it can take it: dbt would ignore a misspelt
    name (the build runs with the default) and fail deep in a model on a wrong value."""
    import difflib

    import yaml

    defaults = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    if name not in defaults:
        near = difflib.get_close_matches(name, defaults, n=1)
        hint = f"did you mean {near[0]}?" if near else f"one of {', '.join(sorted(defaults))}"
        raise click.BadParameter(f"no var named {name!r}: {hint}", param_hint="--var")
    expected = _var_expects(name, value, defaults[name])
    if expected:
        raise click.BadParameter(f"{name} must be {expected}, got {value!r}", param_hint="--var")
    return value


# Whole-number vars count days, weeks or lines: beyond this a value is a typo (and days past it
# would overflow a timestamp in the build).
MAX_WHOLE_VAR = 36_500


def _var_expects(name: str, value: object, default: object) -> str | None:
    """What the var takes, if `value` is not that; None if it is."""
    if name == "as_of_date":
        if value is None or _is_timestamp(value):
            return None
        return "a date such as 2026-11-22 (or a time such as 2026-11-22T18:00:00Z), or null"
    if name == "reporting_currency":
        return None if value in _rated_currencies() else "a currency of seeds/exchange_rates.csv"
    if name == "analysis_weeks" and value is None:
        return None  # no window: all data
    if name == "control_limit_sigmas":
        return None if _is_number(value) and 0 < value <= 10 else "a number above 0, up to 10"
    if name == "confidence":
        return None if _is_number(value) and 0 < value < 1 else "a level such as 0.95"
    if isinstance(default, int):
        least = 1 if name == "analysis_weeks" else 0  # 0 weeks would read as no window
        if _is_number(value) and float(value).is_integer() and least <= value <= MAX_WHOLE_VAR:
            return None
        return f"a whole number from {least} to {MAX_WHOLE_VAR:,}"
    return None if _is_number(value) and 0 <= value <= 1 else "a number from 0 to 1"  # rates


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_timestamp(value: object) -> bool:
    """Whether the build's cast to timestamptz takes it (and only a quoted literal it is)."""
    import duckdb

    return (
        isinstance(value, str)
        and duckdb.execute("select try_cast(? as timestamptz)", [value]).fetchall()[0][0]
        is not None
    )


def _rated_currencies() -> set[str]:
    import csv

    with (PROJECT_DIR / "seeds" / "exchange_rates.csv").open(newline="") as rates:
        return {row["currency"] for row in csv.DictReader(rates)}


# As dbt reads the same words in YAML: `--var analysis_weeks=null` asks for no window.
_WORD_VALUES = {"null": None, "~": None, "true": True, "false": False}


def _var_value(text: str) -> object:
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return _WORD_VALUES.get(text.strip().lower(), text)


def echo_progress(message: str) -> None:
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dropscore")
def cli() -> None:
    """Which AliExpress suppliers to stop using, and what each one costs you.

    \b
    Example:
        dropscore demo
        dropscore run ~/exports/*.csv
        dropscore dashboard
    """


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--orders", default=20_000, show_default=True, help="Store orders to make.")
@click.option("--weeks", default=52, show_default=True, help="Weeks of orders, ending --end-date.")
@click.option("--seed", default=42, show_default=True, help="Same seed, same files.")
@click.option(
    "--end-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-11-22",
    show_default=True,
    help="The day the exports are taken.",
)
def generate(out: Path, orders: int, weeks: int, seed: int, end_date) -> None:
    """Write realistic sample exports (orders, disputes) and the suppliers' true quality.

    \b
    Example:
        dropscore generate --out samples --orders 5000 --seed 7
    """
    from ingest.generate import generate as generate_exports

    with click.progressbar(length=orders, label="generating", file=sys.stderr) as bar:
        exports = generate_exports(
            out,
            orders=orders,
            weeks=weeks,
            seed=seed,
            end_date=end_date.date(),
            progress=lambda done, total: bar.update(done - bar.pos),
        )
    click.echo(f"{exports.lines:,} order lines -> {exports.orders}")
    click.echo(f"disputes -> {exports.disputes}")
    click.echo(f"true supplier quality -> {exports.truth}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format", "format_name", type=click.Choice(sorted(FORMATS)), help="Skip format detection."
)
@click.option("--list-formats", is_flag=True, help="List the formats dropscore reads and exit.")
@home_option
@user_errors
def ingest(paths: tuple[Path, ...], format_name, list_formats: bool, settings: Settings) -> None:
    """Load export files into the build warehouse (each file whole or not at all).

    \b
    Example:
        dropscore ingest exports/orders.csv exports/disputes.csv
    """
    if list_formats:
        for fmt in FORMATS.values():
            click.echo(f"{fmt.name:<22} {fmt.summary}")
        return
    if not paths:
        raise click.UsageError("name at least one file to load")
    from dropscore.pipeline import ingest as ingest_files

    results = ingest_files(settings, paths, format_name, echo_progress)
    loaded = sum(result.rows for result in results)
    rejected = sum(result.rejected for result in results)
    rejects = f", {rejected:,} rejected (see raw.rejects)" if rejected else ""
    click.echo(
        f"{loaded:,} rows loaded{rejects} from {len(results)} file(s) into {settings.build_path}"
    )


@cli.command()
@click.argument("kind", type=click.Choice(sorted(TEMPLATES)))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the template to FILE (default: standard output); never over a file.",
)
def template(kind: str, out: Path | None) -> None:
    """Write an empty CSV template to fill in: a # line explaining each column, then the header.

    \b
    Example:
        dropscore template disputes --out disputes.csv
        dropscore template order-links > links.csv
    """
    from ingest.templates import template_text

    text = template_text(TEMPLATES[kind])
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        # "x": a dispute log kept by hand has no other copy, and its template has its name
        with out.open("x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise click.ClickException(
            f"{out} already exists: name another file (a template has no rows to keep)"
        ) from None
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror}") from None
    click.echo(f"{kind} template -> {out}", err=True)


@cli.command()
@var_option
@home_option
@user_errors
def build(dbt_vars: tuple[str, ...], settings: Settings) -> None:
    """Build the marts with dbt and publish the warehouse.

    \b
    Example:
        dropscore build --var maturity_days=45
    """
    from dropscore.pipeline import build as build_warehouse

    result = build_warehouse(settings, parse_vars(dbt_vars), echo_progress)
    click.echo(f"published {result.warehouse} ({result.elapsed_seconds:.1f} s)")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "format_name", type=click.Choice(sorted(FORMATS)), help="Skip format detection."
)
@var_option
@home_option
@user_errors
def run(paths: tuple[Path, ...], format_name, dbt_vars: tuple[str, ...], settings: Settings):
    """Ingest files, build the marts and publish: the weekly job.

    \b
    Example:
        dropscore run exports/*.csv
    """
    from dropscore.pipeline import run as run_pipeline
    from dropscore.report import prepare_charts, render_report

    result = run_pipeline(
        settings,
        paths,
        format_name,
        parse_vars(dbt_vars),
        echo_progress,
        alongside_publish=render_report,
        before_publish=prepare_charts,
    )
    click.echo(f"published {result.warehouse} ({result.elapsed_seconds:.1f} s)")
    write_weekly_report(settings, result.alongside)


def serve(settings: Settings, port: int, address: str) -> None:
    app = PROJECT_DIR / "dashboards" / "app.py"
    # The app imports `dashboards` and `dropscore` from the project, wherever it is run from.
    python_path = os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "DROPSCORE_HOME": str(settings.home), "PYTHONPATH": python_path}
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        # A table's own "Download as CSV" writes a name such as =HYPERLINK(…) as it is, which a
        # spreadsheet runs: the pages offer downloads that defuse it instead (`ui.download`).
        "--client.disableDataExport", "true",
    ]  # fmt: skip
    _refuse_a_port_in_use(address, port)
    click.echo(f"dashboard: http://{address}:{port}  (Ctrl+C to stop)")
    # Streamlit in this process's place: a signal to stop it (Ctrl+C, `kill`) reaches the server
    # itself, with no child left serving the port, and its exit status is the command's.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, environment)


def _refuse_a_port_in_use(address: str, port: int) -> None:
    """Streamlit would print that the port is taken and exit 0, after the address above was
    printed: another home's dashboard may be the one answering there."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's server binds
        try:
            probe.bind((address, port))
        except OSError as error:
            raise click.ClickException(
                f"cannot serve on {address}:{port}: {error.strerror} (another dashboard? "
                "stop it, or pick another --port)"
            ) from None


@cli.command()
@click.option("--port", default=8501, show_default=True)
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 0.0.0.0 exposes your data to the network.",
)
@home_option
def dashboard(port: int, address: str, settings: Settings) -> None:
    """Serve the dashboard over the published warehouse.

    \b
    Example:
        dropscore dashboard --port 8502
    """
    serve(settings, port, address)


@cli.command()
@click.option("--orders", default=20_000, show_default=True, help="Store orders to generate.")
@click.option("--seed", default=42, show_default=True)
@click.option("--serve/--no-serve", "serve_dashboard", default=True, help="Serve the dashboard.")
@click.option("--port", default=8501, show_default=True)
@home_option
@user_errors
def demo(orders: int, seed: int, serve_dashboard: bool, port: int, settings: Settings) -> None:
    """Generate sample exports, run the weekly job on them and open the dashboard.

    \b
    Example:
        dropscore demo --orders 5000 --no-serve
    """
    from dropscore.pipeline import run as run_pipeline
    from dropscore.report import prepare_charts, render_report
    from ingest.generate import generate as generate_exports

    exports = generate_exports(settings.home / "demo-exports", orders=orders, seed=seed)
    click.echo(f"sample exports: {exports.orders.parent} ({exports.lines:,} order lines)")
    result = run_pipeline(
        settings,
        [exports.orders, exports.disputes],
        progress=echo_progress,
        alongside_publish=render_report,
        before_publish=prepare_charts,
    )
    click.echo(f"warehouse: {result.warehouse}")
    write_weekly_report(settings, result.alongside)
    if serve_dashboard:
        serve(settings, port, "127.0.0.1")


def write_weekly_report(settings: Settings, rendering: Future) -> None:
    """After a run: the report of the last complete week, or one line saying why there is none.

    It was rendered from the published warehouse while the next build file was being made
    (`rendering`).
    """
    from dropscore.report import ReportError, save_report
    from dropscore.sql import SqlError

    try:
        paths = save_report(rendering.result(), settings.reports_path)
    except (ReportError, SqlError) as error:
        click.echo(f"no weekly report: {error}", err=True)
        return
    except OSError as error:  # the warehouse is published; only the report could not be made
        click.echo(f"no weekly report: {error}", err=True)
        return
    click.echo(f"report: {paths[0]}")


def parse_week(context, parameter, value):
    if value is None:
        return None
    from dropscore.report import Week

    try:
        return Week.parse(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def parse_report_formats(context, parameter, value: str) -> tuple[str, ...]:
    from dropscore.report import REPORT_FORMATS

    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    formats = tuple(dict.fromkeys(names))
    unknown = [name for name in formats if name not in REPORT_FORMATS]
    if unknown or not formats:
        raise click.BadParameter(
            f"expected a comma-separated list of {', '.join(REPORT_FORMATS)}, got {value!r}"
        )
    return formats


@cli.command()
@click.option(
    "--week",
    callback=parse_week,
    metavar="YYYY-Www",
    help="ISO week to report on. Default: the last complete week before the data's as-of date.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into.  [default: <home>/reports]",
)
@click.option(
    "--format",
    "formats",
    default="html,md",
    show_default=True,
    callback=parse_report_formats,
    help="Comma-separated: html (self-contained, mail-safe), md (Markdown summary).",
)
@home_option
def report(week, out: Path | None, formats: tuple[str, ...], settings: Settings) -> None:
    """Write the weekly review: verdict changes, spikes, losses, switches, deadlines, data health.

    \b
    Example:
        dropscore report
        dropscore report --week 2026-W45 --format md --out ~/reports
    """
    from dropscore.report import ReportError, write_report
    from dropscore.sql import SqlError

    try:
        paths = write_report(settings.warehouse_path, out or settings.reports_path, week, formats)
    except (ReportError, SqlError) as error:
        raise click.ClickException(str(error)) from None
    for path in paths:
        click.echo(str(path))


@cli.command()
@click.argument("query", required=False)
@click.option("--schema", "show_schema", is_flag=True, help="List tables, columns, descriptions.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--max-rows", default=10_000, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True, max=86_400),
    help="Seconds before the query is stopped (at most a day).",
)
@home_option
def sql(
    query: str | None,
    show_schema: bool,
    output_format: str,
    max_rows: int,
    timeout: float,
    settings: Settings,
) -> None:
    """Run one read-only SQL query on the published warehouse (no files, network or settings).

    \b
    Example:
        dropscore sql "select supplier_name, verdict from marts.fct_supplier_scorecard"
        dropscore sql --format csv "from marts.fct_order_lines limit 100" > lines.csv
        dropscore sql --schema
    """
    from dropscore import sql_output
    from dropscore.sql import SqlError, run_query, schema

    if show_schema == (query is not None):
        raise click.UsageError("give either a QUERY or --schema")
    result = None
    try:
        if show_schema:
            described = schema(settings.warehouse_path)
            if output_format == "table":
                click.echo(sql_output.schema_listing(described), nl=False)
                return
            columns = list(described.columns)
            rows = list(described.itertuples(index=False, name=None))
        else:
            result = run_query(
                settings.warehouse_path, query, max_rows=max_rows, timeout_seconds=timeout
            )
            columns, rows = result.columns, result.rows
    except SqlError as error:
        # DuckDB's message may quote a value from the data
        raise click.ClickException(escape_controls(str(error))) from None
    text = sql_output.render(columns, rows, output_format, terminal=sys.stdout.isatty())
    # color=True: click would otherwise take escape sequences out of data written to a file
    click.echo(text, nl=False, color=True)
    if result is not None and result.truncated:
        click.echo(f"stopped at {max_rows:,} rows; raise --max-rows to see more", err=True)


@cli.command()
@click.option(
    "--parquet",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write one <mart>.parquet per mart into.",
)
@home_option
def export(directory: Path, settings: Settings) -> None:
    """Write every mart as a Parquet file, for other tools (read-only on the warehouse).

    \b
    Example:
        dropscore export --parquet exports/marts
    """
    from dropscore.export import export_parquet
    from dropscore.sql import SqlError

    try:
        exported = export_parquet(settings.warehouse_path, directory)
    except SqlError as error:
        raise click.ClickException(str(error)) from None
    for mart in exported:
        click.echo(f"marts.{mart.name}: {mart.rows:,} rows -> {mart.path}")


def main() -> None:
    """The console script and `python -m dropscore`: the process ends when it returns."""
    try:
        cli(prog_name="dropscore")
    except RuntimeError as error:
        # Ctrl+C while DuckDB runs a query: DuckDB's Python client raises this in its place.
        if str(error) != "Query interrupted":
            raise
        click.echo("Aborted!", err=True)
        sys.exit(1)
    finally:
        # A run leaves dbt's objects behind, and collecting them as Python exits took ~0.5 s.
        # Frozen, they are not collected: only objects in reference cycles lose their
        # finalizers, and dropscore closes its files and connections itself (exit handlers,
        # such as the log's, still run).
        gc.freeze()
