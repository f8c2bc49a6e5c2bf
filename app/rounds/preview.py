"""What experts will get, for the research team to check first: the questionnaire of the round
being prepared (or open), its items and, from round 2 on, the group's feedback, with nothing saved;
and its invitation and reminder e-mails, sent to the researcher's own address."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlmodel import Session

from app.accounts.models import Researcher
from app.db import utcnow
from app.mail import service as mail
from app.mail.mailer import Mailer
from app.panel.models import Expert
from app.rounds import answers as answer_service
from app.rounds import feedback as feedback_service
from app.rounds import invitations, service
from app.rounds.kinds import KINDS
from app.rounds.models import Round, RoundStatus
from app.studies import design
from app.studies.models import Study
from app.studies.translations import Localiser

# the e-mails that carry the questionnaire's link, which a test e-mail points to the preview
TESTED_KINDS = ("invitation", "reminder")


def round_to_preview(session: Session, study: Study) -> tuple[Round, list[Any]]:
    """The latest round while it is a draft or open; otherwise the next one as it would be created
    now (not stored), with the items it would ask."""
    latest = service.current_round(session, study.id)
    if latest is not None and latest.status in (RoundStatus.DRAFT, RoundStatus.OPEN):
        return latest, answer_service.round_items(session, latest.id)
    upcoming = Round(study_id=study.id, number=1 if latest is None else latest.number + 1)
    return upcoming, service.next_round_items(session, study, latest)


def questionnaire(
    session: Session, study: Study, round_: Round, items: list[Any], before: feedback_service.RoundBefore, feedback: Any
) -> dict[str, Any]:
    """What ``expert/form.html`` shows of a round whatever an expert has saved: its items by theme,
    the group's feedback and the open questions of the round before, the scale. The expert's page
    and the preview both start from it."""
    return {
        "groups": design.by_theme(session, study.id, items),
        "kinds": KINDS,
        "open_before": feedback_service.open_questions_before(round_, items, before),
        "previous_round": before.round.number if before.round is not None else None,
        "feedback": feedback,
        "total": len(items),
        "points": list(range(study.scale_min, study.scale_max + 1)),
        "threshold": study.divergence_threshold,
    }


def preview_context(session: Session, study: Study, language: str) -> dict[str, Any]:
    """What ``expert/form.html`` needs, for an expert who has not answered yet and reads ``language``."""
    round_, items = round_to_preview(session, study)
    nobody = Expert(id=0, study_id=study.id, pseudonym="—", name="", email="preview@invalid")  # never stored
    before = feedback_service.round_before(session, study, round_, nobody)
    feedback = {} if round_.realtime else feedback_service.from_snapshot(items, before)
    return questionnaire(session, study, round_, items, before, feedback) | {
        "preview": True,
        "study": study,
        "local": Localiser(study, language),
        "round": round_,
        "expert": nobody,
        "base": "",
        "link_csrf": "",
        "invitation": SimpleNamespace(submitted_at=None),
        "unchanged": set(),
        "versions": {},
        "values": {},
        "errors": {},
        "error": None,
        "answered": 0,
        "last_saved": None,
        "unanswered": [],
    }


def queue_test_emails(session: Session, study: Study, researcher: Researcher, mailer: Mailer, language: str) -> int:
    """The invitation and a reminder of the round to preview, written as an expert gets them (in
    ``language``), queued to the researcher's own address with "[Test]" in the subject. Their link
    opens the preview, not an expert's page: a test e-mail gives nobody access. Returns 2."""
    round_, _ = round_to_preview(session, study)
    reader = Expert(id=0, study_id=study.id, pseudonym="—", name=researcher.name, email=researcher.email)
    link = f"{mailer.base_url}/studies/{study.id}/preview?language={language}"
    sent_at = utcnow().isoformat()
    for kind in TESTED_KINDS:
        email = invitations.round_email(
            mailer, kind, language, study, round_, reader, link=link, subject_prefix="[Test] "
        )
        mail.queue(
            session,
            dedupe_key=f"test:{study.id}:{researcher.id}:{kind}:{sent_at}",
            to=researcher.email,
            email=email,
            kind="test",
            study_id=study.id,
        )
    return len(TESTED_KINDS)
