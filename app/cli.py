"""The ``delphi`` command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.config import Settings, SettingsError, load_settings
from app.scoring_cli import cooke_command, score_command

if TYPE_CHECKING:
    from sqlmodel import Session

cli = typer.Typer(
    help="Delphi: run Delphi expert surveys end to end.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
researcher_cli = typer.Typer(help="Researcher accounts.", no_args_is_help=True)
study_cli = typer.Typer(help="Studies as protocol files (TOML), and their data.", no_args_is_help=True)
cli.add_typer(researcher_cli, name="researcher")
cli.add_typer(study_cli, name="study")
cli.command("score")(score_command)
cli.command("cooke")(cooke_command)


def settings_or_exit(**overrides: object) -> Settings:
    """Settings, or one readable line and exit code 2."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def say(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def command_session(settings: Settings) -> Iterator[Session]:
    """One transaction on the configured database for a command: a domain refusal (``AppError``)
    ends the command with its message and exit code 1, and the engine is closed either way."""
    from app.db import make_engine, session_scope
    from app.errors import AppError

    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            yield session
    except AppError as exc:
        say(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from app.migrate import upgrade

    settings = settings_or_exit()
    say(f"Migrating {_safe_url(settings.database_url)} ...")
    try:
        upgrade(settings.database_url)
    except Exception as exc:  # a database that cannot be reached: one line, no traceback
        say(f"error: migration failed: {str(exc).splitlines()[0]}")
        raise typer.Exit(1) from None
    say("Database is up to date.")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", help="Port (PORT is honoured).")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (share state through the database).")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    keep_alive: Annotated[
        int, typer.Option(help="Seconds an idle connection stays open (an expert pauses between answers).")
    ] = 75,
) -> None:
    """Serve the platform (and deliver queued mail in the background)."""
    import uvicorn

    settings = settings_or_exit()
    say(f"Delphi on http://{host}:{port}  (database {_safe_url(settings.database_url)})")
    uvicorn.run(
        "app.main:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level="info",
        proxy_headers=True,
        access_log=False,
        timeout_keep_alive=keep_alive,
    )


@cli.command()
def worker(
    once: Annotated[bool, typer.Option(help="Deliver what is due, close due rounds, then exit.")] = False,
) -> None:
    """Deliver the outbox over SMTP, send scheduled reminders and close rounds whose deadline passed."""
    import threading

    from app.db import make_engine
    from app.worker import run_sender_loop, run_worker_pass

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    if once:
        report = run_worker_pass(engine, settings)
        say(
            f"sent {report.sent}, failed {report.failed}, rounds closed {report.rounds_closed}, "
            f"reminders queued {report.reminders}"
        )
        return
    say(
        f"Worker running (database {_safe_url(settings.database_url)}, SMTP "
        f"{settings.smtp_host or 'not configured: mail stays in the outbox'}). Ctrl-C stops it."
    )
    stop = threading.Event()
    try:
        run_sender_loop(engine, settings, stop, verbose=True)
    except KeyboardInterrupt:
        stop.set()


@researcher_cli.command("create")
def researcher_create(
    email: Annotated[str, typer.Argument(help="The researcher's e-mail (their login).")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[
        bool, typer.Option("--admin", help="The instance's administrator (lists and deactivates accounts).")
    ] = False,
) -> None:
    """Create a researcher account (asks for the password). The instance's first account is its
    administrator."""
    from app.accounts import service

    settings = settings_or_exit()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with command_session(settings) as session:
        researcher = service.create_researcher(session, email, password, name, admin=True if admin else None)
        created, is_admin = researcher.email, researcher.is_admin
    say(f"Researcher {created} created" + (" (administrator)." if is_admin else "."))


@researcher_cli.command("list")
def researcher_list() -> None:
    """Every account: e-mail, name, studies, last activity, status."""
    from app.accounts import service
    from app.db import make_engine, session_scope

    engine = make_engine(settings_or_exit().database_url)
    try:
        with session_scope(engine) as session:
            rows = [
                (
                    row.researcher.email,
                    row.researcher.name,
                    str(row.studies),
                    row.last_seen_at.strftime("%Y-%m-%d %H:%M UTC") if row.last_seen_at else "-",
                    ("active" if row.researcher.is_active else "deactivated")
                    + (", administrator" if row.researcher.is_admin else ""),
                )
                for row in service.accounts_overview(session)
            ]
    finally:
        engine.dispose()
    for email, name, studies, seen, status in rows:
        say(f"{email}\t{name}\tstudies: {studies}\tlast activity: {seen}\t{status}")


def _with_account(email: str, action: Any) -> None:
    """Run ``action(session, service, account)`` on the account with this e-mail, in a transaction."""
    from sqlmodel import select

    from app.accounts import service
    from app.accounts.models import Researcher

    with command_session(settings_or_exit()) as session:
        found = session.exec(select(Researcher).where(Researcher.email == service.normalise_email(email))).first()
        if found is None:
            say(f"error: no account uses {email}")
            raise typer.Exit(1)
        action(session, service, found)


def _set_active(email: str, active: bool) -> None:
    _with_account(email, lambda session, service, account: service.set_active(session, None, account.id, active=active))


@researcher_cli.command("admin")
def researcher_admin(
    email: Annotated[str, typer.Argument(help="The account's e-mail.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="No longer an administrator.")] = False,
) -> None:
    """Make an account the instance's administrator (it lists and deactivates accounts)."""
    _with_account(email, lambda session, service, account: service.set_admin(session, account.id, not revoke))
    say(f"{email} is {'no longer' if revoke else 'now'} an administrator.")


@researcher_cli.command("reset-two-factor")
def researcher_reset_two_factor(email: Annotated[str, typer.Argument(help="The account's e-mail.")]) -> None:
    """Turn off an account's two-factor authentication (its owner lost the app and the recovery
    codes); its sessions end."""
    _with_account(email, lambda session, service, account: service.reset_two_factor(session, account.id))
    say(f"{email}: two-factor authentication is off; its owner logs in with the password and can turn it on again.")


@researcher_cli.command("deactivate")
def researcher_deactivate(email: Annotated[str, typer.Argument(help="The account's e-mail.")]) -> None:
    """The account can no longer log in, and its sessions end."""
    _set_active(email, False)
    say(f"{email} is deactivated.")


@researcher_cli.command("activate")
def researcher_activate(email: Annotated[str, typer.Argument(help="The account's e-mail.")]) -> None:
    """A deactivated account can log in again."""
    _set_active(email, True)
    say(f"{email} can log in again.")


@cli.command()
def demo(
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Run a whole two-round study with simulated experts.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="With --simulate: folder for delphi.db, report.pdf, summary.json.")
    ] = None,
    seed: Annotated[int, typer.Option(help="With --simulate: random seed of the simulated experts.")] = 7,
    port: Annotated[
        int | None, typer.Option(help="With --simulate: the app's port (a free one if not given).", min=1, max=65535)
    ] = None,
    smtp_port: Annotated[
        int | None,
        typer.Option(
            help="With --simulate: the in-process SMTP server's port (a free one if not given).", min=1, max=65535
        ),
    ] = None,
) -> None:
    """Load the demo study (social media and e-commerce) and a demo researcher."""
    if simulate:
        from app.demo.simulate import run_simulation

        folder = out or Path("simulation")
        try:
            run_simulation(folder, seed=seed, say=say, port=port, smtp_port=smtp_port)
        except OSError as exc:  # a port already taken
            say(f"The simulation could not start: {exc}")
            raise typer.Exit(2) from None
        return
    from app.db import make_engine
    from app.demo.service import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        created = seed_demo(engine)
    finally:
        engine.dispose()
    if created:
        say("Demo study loaded: 22 experts, 7 themes.")
    say(f"Log in at {settings.base_url}/login with {DEMO_EMAIL} / {DEMO_PASSWORD}")


@study_cli.command("export")
def study_export(
    study_id: Annotated[int, typer.Argument(help="The study's number.")],
    out: Annotated[Path | None, typer.Option(help="File to write (standard output if absent).")] = None,
    with_emails: Annotated[bool, typer.Option("--with-emails", help="Include the experts' names and e-mails.")] = False,
) -> None:
    """Write a study's protocol (themes, items, rules, panel) as TOML."""
    from app import protocol_file

    with command_session(settings_or_exit()) as session:
        text = protocol_file.export_study(session, study_id, with_identities=with_emails)
    if out:
        out.write_text(text, encoding="utf-8")
        say(f"Protocol written to {out}")
    else:
        typer.echo(text)


@study_cli.command("data")
def study_data(
    study_id: Annotated[int, typer.Argument(help="The study's number.")],
    out: Annotated[Path, typer.Option(help="The file to write (replaced if it exists).")],
    export_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv (the answers), xlsx (the study workbook) or json (the whole study); "
            "by default the file's extension, else csv.",
        ),
    ] = None,
    with_emails: Annotated[
        bool, typer.Option("--with-emails", help="Include the experts' names and e-mails (CSV and XLSX).")
    ] = False,
) -> None:
    """Write a study's data (answers CSV, workbook or JSON) as its exports page does.

    For a big study, whose workbook takes longer to write than a proxy waits for a page. The file
    appears whole or not at all, readable by its owner only."""
    import os
    import signal
    import tempfile

    from app.reports import exports
    from app.studies import service as studies

    suffix = out.suffix.lower().lstrip(".")
    export_format = export_format or (suffix if suffix in exports.EXPORTS else "csv")
    if export_format not in exports.EXPORTS:
        say(f"error: --format must be one of {', '.join(exports.EXPORTS)}")
        raise typer.Exit(2)
    if with_emails and export_format == "json":
        say("error: the JSON export never names anyone; --with-emails is for csv and xlsx")
        raise typer.Exit(2)
    folder = out.resolve().parent
    if out.is_dir() or not out.name:
        say(f"error: {out} is a folder; give a file name")
        raise typer.Exit(2)
    if not folder.is_dir():
        say(f"error: {folder} is not a folder")
        raise typer.Exit(2)
    settings = settings_or_exit()
    spool_name: str | None = None
    # stopped with SIGTERM (a time limit, a service manager): leave through ``finally`` as on Ctrl-C
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with (
            tempfile.NamedTemporaryFile(dir=folder, prefix=f".{out.name}.", delete=False) as spool,
            command_session(settings) as session,
        ):
            spool_name = spool.name
            study = studies.get_study(session, study_id)
            exports.write_export(session, study, export_format, spool, identities=with_emails)
        os.replace(spool_name, out)
    except OSError as exc:
        say(f"error: cannot write {out}: {exc.strerror or exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        say("interrupted: nothing written")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        if spool_name is not None and os.path.exists(spool_name):
            os.unlink(spool_name)
    say(f"{export_format.upper()} of study {study_id} written to {out}")


@study_cli.command("create")
def study_create(
    file: Annotated[Path, typer.Argument(help="A protocol file (TOML), as `delphi study export` writes.")],
    owner: Annotated[str | None, typer.Option(help="E-mail of the researcher who will own the study.")] = None,
) -> None:
    """Create a study from a protocol file."""
    from app import protocol_file

    settings = settings_or_exit()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        say(f"error: {file}: {exc.strerror}")
        raise typer.Exit(2) from None
    with command_session(settings) as session:
        study = protocol_file.create_from_text(session, text, owner_email=owner, filename=str(file))
        study_id, title = study.id, study.title
    say(f"Study {study_id} created: {title}")
    typer.echo(str(study_id))


@cli.command()
def report(
    study_id: Annotated[int, typer.Argument(help="The study's number.")],
    out: Annotated[Path, typer.Option(help="The PDF to write.")],
    lang: Annotated[str | None, typer.Option(help="fr or en (default: the study's language).")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML that was rendered.")] = None,
    checklist: Annotated[
        str, typer.Option(help="The reporting guideline of the checklist appendix: ACCORD, DELPHISTAR or CREDES.")
    ] = "ACCORD",
) -> None:
    """Write the consensus report of a study as PDF."""
    import gc
    import time

    from app.db import make_engine
    from app.errors import AppError
    from app.i18n import LANGUAGES
    from app.reports.checklists import GUIDELINES
    from app.reports.service import write_report

    if lang is not None and lang not in LANGUAGES:
        say("error: --lang must be fr or en")
        raise typer.Exit(2)
    if checklist.upper() not in GUIDELINES:
        say("error: --checklist must be ACCORD, DELPHISTAR or CREDES")
        raise typer.Exit(2)
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    started = time.perf_counter()
    say(f"Rendering the report of study {study_id} ...")
    # A one-shot process: the objects of the modules imported so far are set aside from the garbage
    # collector, which then scans only what the report makes (each full collection during the layout
    # scanned every imported object: 0.4 s of a demo report), and again at exit (which skips its last
    # full collection: 0.8 s). Nothing they hold is garbage to collect. The layout makes millions of
    # short-lived objects: collecting the youngest every 10,000 allocations instead of 700 costs no
    # memory here and a few tenths of a second less.
    gc.freeze()
    gc.set_threshold(10_000, 5, 5)
    try:
        size = write_report(engine, study_id, out, lang, html, checklist.upper())
    except AppError as exc:
        say(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    except OSError as exc:
        say(f"error: {exc.strerror}: {exc.filename}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    say(f"Report written to {out} ({size // 1024} KB, {time.perf_counter() - started:.1f} s)")
    gc.freeze()


def main() -> None:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        cli()
    except SQLAlchemyError as exc:  # one readable line instead of a driver traceback
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        typer.echo(f"error: database: {detail} (is it migrated? run `delphi migrate`)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
