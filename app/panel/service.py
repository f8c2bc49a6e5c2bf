"""The panel: experts, their profiles and weights, imports, withdrawal and personal links."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from app import addresses
from app.accounts.models import Researcher
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, InvalidInput, Message, NotFound
from app.panel.models import Expert, ExpertStatus
from app.panel.schemas import ExpertCreate, ExpertUpdate
from app.scoring import RuleError, expert_weights
from app.security import hash_token, link_token, new_link_nonce
from app.studies.models import Study
from app.studies.service import group_label


def experts_of(session: Session, study_id: int, *, status: str | None = None) -> list[Expert]:
    query = select(Expert).where(Expert.study_id == study_id)
    if status:
        query = query.where(Expert.status == status)
    return list(session.exec(query.order_by(col(Expert.pseudonym))).all())


PANEL_PAGE_SIZE = 100


@dataclass(frozen=True)
class PanelPage:
    experts: list[Expert]
    total: int  # experts matching the search (all of the panel without one)
    page: int  # 1-based, within 1..pages
    pages: int

    @property
    def first(self) -> int:
        """The position of the page's first expert among those matching (0 when none match)."""
        return (self.page - 1) * PANEL_PAGE_SIZE + 1 if self.total else 0


def experts_page(
    session: Session, study_id: int, page: int, search: str = "", *, identities: bool = False
) -> PanelPage:
    """One page of the panel, in pseudonym order: ``search`` looks in the pseudonym, and in the name
    and e-mail for those who may see identities. A page past the end shows the last."""
    query = select(Expert).where(Expert.study_id == study_id)
    text = search.strip()
    if text:
        pattern = f"%{text}%"
        fields = [col(Expert.pseudonym)] + ([col(Expert.name), col(Expert.email)] if identities else [])
        query = query.where(or_(*(field.ilike(pattern) for field in fields)))
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    pages = max(1, -(-total // PANEL_PAGE_SIZE))
    page = max(1, min(page, pages))
    rows = session.exec(
        query.order_by(col(Expert.pseudonym)).offset((page - 1) * PANEL_PAGE_SIZE).limit(PANEL_PAGE_SIZE)
    ).all()
    return PanelPage(list(rows), total, page, pages)


def panel_size(session: Session, study_id: int) -> int:
    return int(session.exec(select(func.count()).select_from(Expert).where(Expert.study_id == study_id)).one())


def get_expert(session: Session, study: Study, expert_id: int) -> Expert:
    expert = session.get(Expert, expert_id)
    if expert is None or expert.study_id != study.id:
        raise NotFound(Message("No such expert on this panel."))
    return expert


def next_pseudonyms(session: Session, study_id: int) -> Iterator[str]:
    number = 0
    taken = set(session.exec(select(Expert.pseudonym).where(Expert.study_id == study_id)).all())
    while True:
        number += 1
        candidate = f"E{number:02d}"
        if candidate not in taken:
            taken.add(candidate)
            yield candidate


def check_group(study: Study, group: str) -> Message | None:
    keys = [g["key"] for g in study.groups]
    if group and keys and group not in keys:
        labels = {g["label"].lower(): g["key"] for g in study.groups}
        if group.lower() in labels:
            return None
        return Message(
            "The group “%(group)s” is not one of the study's groups (%(keys)s).", group=group, keys=", ".join(keys)
        )
    return None


def group_key(study: Study, group: str) -> str:
    for g in study.groups:
        if group.lower() in (g["key"].lower(), g["label"].lower()):
            return g["key"]
    return group


def add_expert(session: Session, study: Study, data: ExpertCreate, researcher: Researcher | None) -> Expert:
    email = addresses.checked(data.email)
    problem = check_group(study, data.stakeholder_group)
    if problem:
        raise InvalidInput(problem, fields=("stakeholder_group",))
    if session.exec(select(Expert).where(Expert.study_id == study.id, Expert.email == email)).first():
        raise Conflict(Message("%(email)s is already on this panel.", email=email), fields=("email",))
    expert = Expert(
        study_id=study.id,
        name=data.name,
        email=email,
        pseudonym=next(iter(next_pseudonyms(session, study.id))),
        stakeholder_group=group_key(study, data.stakeholder_group),
        profile=clean_profile(data.profile),
        language=data.language,
    )
    session.add(expert)
    session.flush()
    audit.record(session, study.id, researcher, "expert.added", f"expert:{expert.pseudonym}")
    return expert


def update_expert(
    session: Session, study: Study, expert: Expert, data: ExpertUpdate, researcher: Researcher | None
) -> list[str]:
    """Correct an expert's name, address, group or language; returns the fields that changed. The
    audit log says which fields changed, and the group and language before and after, but keeps no
    name or address (those stay on the panel only, where they can be erased)."""
    email = addresses.checked(data.email)
    problem = check_group(study, data.stakeholder_group)
    if problem:
        raise InvalidInput(problem, fields=("stakeholder_group",))
    taken = session.exec(
        select(Expert.id).where(Expert.study_id == study.id, Expert.email == email, Expert.id != expert.id)
    ).first()
    if taken is not None:
        raise Conflict(Message("%(email)s is already on this panel.", email=email), fields=("email",))
    after = {
        "name": data.name,
        "email": email,
        "stakeholder_group": group_key(study, data.stakeholder_group),
        "language": data.language,
    }
    changed = [field for field, value in after.items() if getattr(expert, field) != value]
    if not changed:
        return []
    details: dict[str, Any] = {"fields": changed}
    for field in ("stakeholder_group", "language"):
        if field in changed:
            details[field] = {"before": getattr(expert, field), "after": after[field]}
    try:
        with session.begin_nested():  # another edit giving the same address at the same moment
            for field in changed:
                setattr(expert, field, after[field])
            session.add(expert)
    except IntegrityError:
        session.refresh(expert)
        raise Conflict(Message("%(email)s is already on this panel.", email=email), fields=("email",)) from None
    audit.record(session, study.id, researcher, "expert.edited", f"expert:{expert.pseudonym}", **details)
    session.flush()
    return changed


def clean_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """Numbers stay numbers (formulas read them); everything else is text."""
    clean: dict[str, Any] = {}
    for key, value in profile.items():
        key = str(key).strip().lower().replace(" ", "_")
        if not key:
            continue
        if isinstance(value, bool) or value is None or isinstance(value, int | float):
            clean[key] = value
        else:
            text = str(value).strip()
            try:
                number = float(text.replace(",", "."))
                clean[key] = int(number) if number.is_integer() and "." not in text and "," not in text else number
            except ValueError:
                clean[key] = text
    return clean


def scheme_weights(study: Study, profiles: list[dict[str, Any]]) -> tuple[list[float], str]:
    """New experts' weights by the protocol's scheme (each depends on the expert's own profile only),
    and the scheme they come from."""
    scheme = study.weighting.get("scheme", "equal")
    if scheme == "assigned":
        return [1.0] * len(profiles), "equal"
    try:
        weights = expert_weights(
            scheme,
            profiles,
            formula=study.weighting.get("formula"),
            field=study.weighting.get("field", "self_rating"),
        )
    except (ValueError, RuleError) as exc:
        raise InvalidInput(
            Message("The weighting rule cannot be applied to this panel: %(error)s", error=str(exc)),
            fields=("weighting",),
        ) from None
    return [round(float(w), 6) for w in weights], scheme


# --- weights, status, links ---------------------------------------------------------------------------


def recompute_weights(session: Session, study: Study, researcher: Researcher | None) -> None:
    """Weights of active experts by the protocol's scheme; a researcher's own value is kept."""
    experts = [e for e in experts_of(session, study.id) if e.weight_source != "researcher"]
    if not experts or study.weighting.get("scheme", "equal") == "assigned":
        return
    weights, scheme = scheme_weights(study, [e.profile for e in experts])
    for expert, weight in zip(experts, weights, strict=True):
        expert.weight = weight
        expert.weight_source = scheme
        expert.weight_reason = ""
        session.add(expert)
    session.flush()


def set_weight(
    session: Session, study: Study, expert: Expert, weight: float, reason: str, researcher: Researcher
) -> Expert:
    if not reason.strip():
        raise InvalidInput(Message("Say why this weight is changed."), fields=("reason",))
    before = expert.weight
    expert.weight, expert.weight_source, expert.weight_reason = weight, "researcher", reason.strip()
    session.add(expert)
    audit.record(
        session,
        study.id,
        researcher,
        "expert.weight_changed",
        f"expert:{expert.pseudonym}",
        before=before,
        after=weight,
        reason=reason.strip(),
    )
    session.flush()
    return expert


def withdraw(session: Session, study: Study, expert: Expert, reason: str, researcher: Researcher | None) -> Expert:
    """The expert leaves the panel: their answers are kept and flagged; their link only says so."""
    if expert.status == ExpertStatus.WITHDRAWN:
        return expert
    expert.withdraw(utcnow(), reason.strip())
    session.add(expert)
    audit.record(session, study.id, researcher, "expert.withdrawn", f"expert:{expert.pseudonym}", reason=reason)
    session.flush()
    return expert


def reinstate(session: Session, study: Study, expert: Expert, researcher: Researcher) -> Expert:
    if expert.status == ExpertStatus.ACTIVE:
        return expert
    expert.reinstate(utcnow())
    session.add(expert)
    audit.record(session, study.id, researcher, "expert.reinstated", f"expert:{expert.pseudonym}")
    session.flush()
    return expert


def drop_expert(session: Session, expert: Expert, reason: str) -> None:
    """Leave an expert out of the next rounds (a narrowing of the panel, which its decision records)."""
    expert.drop(utcnow(), reason)
    session.add(expert)


def issue_link(session: Session, expert: Expert, secret_key: str) -> str:
    """A new personal link; the old one, if any, stops working. Only the hash is stored."""
    expert.link_nonce = new_link_nonce()
    token = link_token(secret_key, expert.id, expert.link_nonce)
    expert.link_token_hash = hash_token(token)
    expert.link_issued_at = utcnow()
    session.add(expert)
    session.flush()
    return token


def current_link(session: Session, expert: Expert, secret_key: str) -> str:
    """The expert's link token, issuing one if they have none (or it was revoked)."""
    if expert.link_nonce is None or expert.link_token_hash is None:
        return issue_link(session, expert, secret_key)
    token = link_token(secret_key, expert.id, expert.link_nonce)
    if hash_token(token) != expert.link_token_hash:  # the secret key changed: a new link
        return issue_link(session, expert, secret_key)
    return token


LINK_COLUMNS = ("pseudonym", "name", "email", "language", "group", "link")


def personal_links(
    session: Session, study: Study, researcher: Researcher, secret_key: str, base_url: str
) -> list[dict[str, Any]]:
    """Every active expert's personal link, for a mail merge where the platform sends no e-mail
    (issued where an expert has none yet). The export is logged: the file opens the questionnaires."""
    rows = [
        {
            "pseudonym": expert.pseudonym,
            "name": expert.name,
            "email": expert.email,
            "language": expert.language or study.language,
            "group": group_label(study, expert.stakeholder_group),
            "link": f"{base_url}/e/{current_link(session, expert, secret_key)}",
        }
        for expert in experts_of(session, study.id, status=ExpertStatus.ACTIVE)
    ]
    audit.record(session, study.id, researcher, "panel.links_exported", "panel", count=len(rows))
    session.flush()
    return rows
