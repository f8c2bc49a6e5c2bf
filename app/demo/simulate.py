"""`delphi demo --simulate`: a whole two-round study, end to end, on one machine.

The app runs under uvicorn on a loopback port with its mail sender; an in-process SMTP server
(aiosmtpd) receives the invitations. A researcher builds the demo study through the JSON API and
opens round 1; each simulated expert takes the link from the e-mail it received and answers
through the expert pages (GET the page, POST the form); the round is closed and analysed, the
panel narrowed 22 -> 10 by the protocol's rule, round 2 runs with feedback, and the report and a
summary are written.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import socket
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from app.config import load_settings
from app.db import make_engine, session_scope
from app.demo.service import DEMO_FILE
from app.migrate import upgrade

RESEARCHER_EMAIL = "researcher@example.org"
RESEARCHER_PASSWORD = "simulated-researcher-2026"  # noqa: S105 - a throwaway simulation account
LINK = re.compile(r"https?://[^\s<>\"]+/e/[A-Za-z0-9_-]{20,}")


class Inbox:
    """The SMTP server's handler: keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def snapshot(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


def _check_free(port: int) -> int:
    """The port, if nothing listens on it on this machine; OSError saying so otherwise."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise OSError(f"port {port} is already in use") from None
    return port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SimulatedExpert:
    """A plausible expert: a view of each item's importance, a group slant, some noise, habits."""

    email: str
    group: str
    rng: random.Random
    stubbornness: float
    verbosity: float
    slant: float
    answers: dict[int, int] = field(default_factory=dict)

    def expertise(self) -> dict[str, str]:
        """A self-assessment of expertise: knowledge 4-10, own experience and theory weighing most."""
        levels = ("high", "medium", "low")
        form = {"knowledge": str(self.rng.randint(4, 10))}
        for source in ("theory", "experience", "national_works", "international_works", "abroad", "intuition"):
            form[f"source_{source}"] = self.rng.choice(levels)
        return form

    def rate(self, item_id: int, base: float) -> int:
        value = base + self.slant + self.rng.gauss(0, 1.4)
        return int(min(9, max(1, round(value))))

    def revise(self, previous: int | None, median: float | None) -> tuple[int | None, bool]:
        """Round 2: move toward the group's median, or keep one's view (and say why)."""
        if previous is None or median is None:
            return previous, False
        if self.rng.random() < self.stubbornness:
            return previous, abs(previous - median) >= 2
        step = median - previous
        return int(round(previous + step * self.rng.uniform(0.5, 1.0))), False


REASONS_FR = (
    "Sur le terrain, les PME n’ont pas les moyens humains de le faire au quotidien.",
    "C’est devenu un prérequis : les clients l’attendent désormais.",
    "L’effet sur les ventes reste difficile à mesurer.",
    "Utile pour la notoriété, beaucoup moins pour la conversion.",
    "Cela dépend fortement du secteur et de la cible.",
    "Les données récentes de nos clients vont dans ce sens.",
)
OPEN_ANSWERS_FR = (
    "Utiliser la géolocalisation pour proposer des offres en magasin.",
    "Former les équipes du service client à répondre sur les réseaux.",
    "Mesurer le retour sur investissement de chaque réseau séparément.",
    "Associer les clients fidèles à la création de contenu.",
    "Soigner la cohérence entre le ton du site marchand et celui des réseaux.",
    "Les vidéos courtes deviennent incontournables pour toucher les plus jeunes.",
)


class Simulation:
    def __init__(
        self, out: Path, seed: int, say: Callable[[str], None], port: int | None = None, smtp_port: int | None = None
    ):
        self.out = out
        self.port, self.smtp_port = port, smtp_port
        self.rng = random.Random(seed)
        self.say = say
        self.summary: dict[str, Any] = {"rounds": []}

    # --- plumbing -------------------------------------------------------------------------------

    def start(self) -> None:
        import os

        self.out.mkdir(parents=True, exist_ok=True)
        for chosen in (self.port, self.smtp_port):
            if chosen:
                _check_free(chosen)
        database_url = os.environ.get("DELPHI_DATABASE_URL")
        if not database_url:
            path = self.out / "delphi.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            database_url = f"sqlite:///{path.resolve()}"
        self.say(f"Database: {database_url}")
        upgrade(database_url)
        self.inbox = Inbox()
        self.smtp = Controller(self.inbox, hostname="127.0.0.1", port=self.smtp_port or _free_port())
        self.smtp.start()
        port = self.port or _free_port()
        self.settings = load_settings(
            database_url=database_url,
            base_url=f"http://127.0.0.1:{port}",
            smtp_host="127.0.0.1",
            smtp_port=self.smtp.port,
            worker_interval_seconds=0.2,
            mail_from="Delphi <delphi@example.org>",
        )
        self.engine = make_engine(database_url)
        from app.accounts import service as accounts
        from app.main import create_app

        with session_scope(self.engine) as session:
            accounts.create_researcher(
                session, RESEARCHER_EMAIL, RESEARCHER_PASSWORD, "Simulated researcher", admin=False
            )
        app = create_app(self.settings, engine=self.engine, run_sender=True)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, name="delphi-sim-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app server did not start")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{port}"
        self.say(f"App on {self.base}, SMTP on 127.0.0.1:{self.smtp.port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.smtp.stop()
        self.engine.dispose()

    def researcher(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=60)
        response = client.post("/api/auth/login", json={"email": RESEARCHER_EMAIL, "password": RESEARCHER_PASSWORD})
        response.raise_for_status()
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client

    @staticmethod
    def ok(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(
                f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content and "json" in response.headers.get("content-type", "") else None

    # --- the study --------------------------------------------------------------------------------

    def build_study(self, api: httpx.Client) -> int:
        spec = tomllib.loads(DEMO_FILE.read_text(encoding="utf-8"))
        study = self.ok(api.post("/api/studies", json=spec["study"]))
        sid = study["id"]
        self.ok(
            api.put(
                f"/api/studies/{sid}/protocol",
                json={
                    "scale": spec["scale"],
                    "protocol": spec["protocol"],
                    "feedback": spec["feedback"],
                    "weighting": spec["weighting"],
                    "narrowing": spec["narrowing"],
                    "groups": spec["groups"],
                },
            )
        )
        for theme in spec["themes"]:
            created = self.ok(
                api.post(
                    f"/api/studies/{sid}/themes",
                    json={"title": theme["title"], "description": theme.get("description", "")},
                )
            )
            for item in theme["items"]:
                self.ok(api.post(f"/api/studies/{sid}/items", json={**item, "theme_id": created["id"]}))
        buffer = io.StringIO()
        fields = ["name", "email", "group", "self_rating", "years", "publications", "role"]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        for expert in spec["experts"]:
            writer.writerow(
                {
                    "name": expert["name"],
                    "email": expert["email"],
                    "group": expert["group"],
                    **{k: expert["profile"].get(k, "") for k in fields[3:]},
                }
            )
        imported = self.ok(
            api.post(
                f"/api/studies/{sid}/experts/import",
                files={"file": ("panel.csv", buffer.getvalue().encode(), "text/csv")},
            )
        )
        self.experts = {
            e["email"]: SimulatedExpert(
                email=e["email"],
                group=e["stakeholder_group"],
                rng=random.Random(self.rng.random()),
                stubbornness=self.rng.uniform(0.1, 0.45),
                verbosity=self.rng.uniform(0.1, 0.6),
                slant=0.6 if e["stakeholder_group"] == "practitioner" else -0.3,
            )
            for e in imported["experts"]
        }
        items = self.ok(api.get(f"/api/studies/{sid}/items"))
        # each item's "true" importance: most matter, some much less, a few divide the panel
        self.true_importance = {i["id"]: self.rng.choice([8.2, 7.8, 7.2, 6.5, 5.5, 4.0]) for i in items}
        self.say(
            f"Study {sid} built through the API: {len(spec['themes'])} themes, {len(items)} items, "
            f"{imported['imported']} experts"
        )
        return int(sid)

    def run_round(self, api: httpx.Client, sid: int, number: int) -> None:
        self.ok(api.post(f"/api/studies/{sid}/rounds", json={}))
        detail = self.ok(api.post(f"/api/studies/{sid}/rounds/{number}/open"))
        invited = detail["progress"]["invited"]
        self.say(f"Round {number} open: {invited} experts invited, {len(detail['items'])} items")
        emails = self.wait_for_mail(len(self.inbox.snapshot()), invited)
        self.say(f"  {len(emails)} invitations received over SMTP")
        answers_posted = 0
        for message in emails:
            answers_posted += self.answer(message, number)
        self.say(f"  {len(emails)} experts answered through their links ({answers_posted} answers over HTTP)")
        closed = self.ok(api.post(f"/api/studies/{sid}/rounds/{number}/close"))
        results = self.ok(api.get(f"/api/studies/{sid}/rounds/{number}/results"))["data"]
        self.say(
            f"  Round {number} closed and analysed: {results['consensus_items']} of {results['rating_items']} "
            f"rated items reach consensus; Kendall's W {results['panel'].get('kendall_w') or 0:.3f}"
        )
        self.summary["rounds"].append(
            {
                "number": number,
                "invited": invited,
                "emails_sent": len(emails),
                "responded": results["responded"],
                "submitted": closed["progress"]["submitted"],
                "answers_via_http": answers_posted,
                "items": len(detail["items"]),
                "consensus_items": results["consensus_items"],
            }
        )

    def wait_for_mail(self, before: int, expected: int, timeout: float = 120) -> list[EmailMessage]:
        """The ``expected`` e-mails that arrive after the first ``before`` ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.inbox.snapshot()[before:]
            if len(messages) >= expected:
                return messages
            time.sleep(0.1)
        arrived = len(self.inbox.snapshot()) - before
        raise RuntimeError(f"only {arrived} of {expected} e-mails arrived over SMTP")

    def answer(self, message: EmailMessage, number: int) -> int:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        found = LINK.search(text)
        if not found:
            raise RuntimeError(f"no link in the e-mail to {message['To']}")
        url = found.group(0).replace(self.base, "")
        expert = self.experts[str(message["To"])]
        with httpx.Client(base_url=self.base, timeout=60, follow_redirects=True) as browser:
            page = browser.get(url)
            page.raise_for_status()
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            if csrf is None:
                raise RuntimeError("no form on the expert page")
            if "/consent" in page.text:
                browser.post(f"{url}/consent", data={"csrf_token": csrf.group(1), "consent": "1"}).raise_for_status()
                page = browser.get(url)
            if f'action="{url}/expertise"' in page.text:  # the self-assessment before the first round
                browser.post(f"{url}/expertise", data={"csrf_token": csrf.group(1), **expert.expertise()})
                page = browser.get(url)
            form = self.fill(page.text, expert, number)
            form["csrf_token"] = csrf.group(1)
            saved = browser.post(f"{url}/save", data=form)
            saved.raise_for_status()
            if self.rng.random() < 0.95:  # a few forget to press submit
                browser.post(f"{url}/submit", data={**form, "confirm_incomplete": "1"}).raise_for_status()
        return sum(1 for k in form if k[0] in "vtu" and k[1:].isdigit())

    def fill(self, html: str, expert: SimulatedExpert, number: int) -> dict[str, str]:
        form: dict[str, str] = {}
        blocks = re.findall(
            r'<div class="item" id="item-(\d+)" data-item="\d+" data-kind="(\w+)"'
            r'\s*(?:data-median="([\d.]+)")?\s*>',
            html,
        )
        for item_id_text, kind, median_text in blocks:
            item_id = int(item_id_text)
            if kind == "open":
                if expert.rng.random() < 0.6:
                    form[f"t{item_id}"] = expert.rng.choice(OPEN_ANSWERS_FR)
                continue
            if kind != "rating":
                continue
            if number == 1:
                if expert.rng.random() < 0.03:
                    form[f"u{item_id}"] = "1"  # unable to rate
                    continue
                value = expert.rate(item_id, self.true_importance.get(item_id, 6.0))
                expert.answers[item_id] = value
                if expert.rng.random() < expert.verbosity * 0.3:
                    form[f"r{item_id}"] = expert.rng.choice(REASONS_FR)
            else:
                median = float(median_text) if median_text else None
                revised, justify = expert.revise(expert.answers.get(item_id), median)
                value = revised if revised is not None else expert.rate(item_id, self.true_importance.get(item_id, 6))
                if justify:
                    form[f"r{item_id}"] = expert.rng.choice(REASONS_FR)
            form[f"v{item_id}"] = str(value)
        return form

    def narrow(self, api: httpx.Client, sid: int) -> int:
        preview = self.ok(api.get(f"/api/studies/{sid}/rounds/1/narrowing"))
        decision = self.ok(api.post(f"/api/studies/{sid}/rounds/1/narrowing", json={"overrides": []}))
        kept = [e for e in decision["experts"] if e["kept"]]
        seats = ", ".join(f"{g} {n}" for g, n in sorted(preview["seats"].items()))
        self.say(f"Panel narrowed {len(decision['experts'])} -> {len(kept)} by the protocol's rule ({seats})")
        return len(kept)


def run_simulation(
    out: Path,
    *,
    seed: int = 7,
    say: Callable[[str], None] = print,
    port: int | None = None,
    smtp_port: int | None = None,
) -> dict[str, Any]:
    """The whole study; the app and the SMTP server listen on ``port`` and ``smtp_port`` (free ports
    if not given)."""
    simulation = Simulation(out, seed, say, port, smtp_port)
    simulation.start()
    try:
        api = simulation.researcher()
        try:
            sid = simulation.build_study(api)
            simulation.run_round(api, sid, 1)
            final = simulation.narrow(api, sid)
            simulation.run_round(api, sid, 2)
            simulation.summary["panel"] = {"initial": len(simulation.experts), "final": final}
        finally:
            api.close()
    finally:
        simulation.stop()
    from app.reports import service as reports

    engine = make_engine(simulation.settings.database_url)
    try:
        with session_scope(engine) as session:
            results = reports.final_results(session, sid)
            simulation.summary["themes"] = [
                {"title": t.title, "weight": t.weight, "rank": t.rank} for t in results.themes
            ]
        path = out / "report.pdf"
        reports.write_report(engine, sid, path)
        say(f"Report written to {path}")
    finally:
        engine.dispose()
    summary = {
        "study_id": sid,
        "rounds": simulation.summary["rounds"],
        "panel": simulation.summary["panel"],
        "themes": simulation.summary["themes"],
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    say(f"Summary written to {out / 'summary.json'}")
    say(
        f"To look at it: DELPHI_DATABASE_URL={make_url(simulation.settings.database_url).render_as_string()} "
        "delphi serve, "
        f"then log in as {RESEARCHER_EMAIL} / {RESEARCHER_PASSWORD}"
    )
    return summary
