"""Studies: protocol validation and locking, items with history, protocol files."""

import tomllib

import pytest
from pydantic import ValidationError

from app import protocol_file
from app.demo.service import DEMO_FILE
from app.errors import Conflict, InvalidInput
from app.studies import design, service
from app.studies.schemas import ItemUpdate, ProtocolSpec, ProtocolUpdate, ScaleSpec, WeightingSpec
from tests.factories import make_item, make_researcher, make_study, make_theme


def test_protocol_rules_are_checked_with_the_rule_language():
    with pytest.raises(ValidationError, match="did you mean 'agreement'"):
        ProtocolSpec(consensus_rule="agrement >= 0.7")
    with pytest.raises(ValidationError, match="unknown name 'median'"):
        ProtocolSpec(stopping_rule="median >= 7")
    with pytest.raises(ValidationError, match="must lie on the scale"):
        ScaleSpec(min=1, max=5, agree=(4, 7))
    with pytest.raises(ValidationError, match="needs a formula"):
        WeightingSpec(scheme="formula")
    assert WeightingSpec(scheme="formula", formula="min(years, 20) / 20").formula


def test_protocol_locks_and_then_refuses_changes_with_the_reason(session):
    researcher = make_researcher(session)
    study = make_study(session, researcher)
    service.update_protocol(session, study, ProtocolUpdate(protocol=ProtocolSpec(max_rounds=4)), researcher)
    assert study.max_rounds == 4
    service.lock_protocol(session, study, researcher)
    locked_at = study.locked_at
    service.lock_protocol(session, study, researcher)
    assert study.locked_at == locked_at  # idempotent, first time kept
    with pytest.raises(Conflict, match="locked on"):
        service.update_protocol(session, study, ProtocolUpdate(protocol=ProtocolSpec(max_rounds=2)), researcher)
    assert study.max_rounds == 4


def test_items_keep_their_history_after_the_lock(session):
    researcher = make_researcher(session)
    study = make_study(session, researcher)
    theme = make_theme(session, study)
    a = make_item(session, study, theme, "First statement")
    b = make_item(session, study, theme, "Second statement")
    service.lock_protocol(session, study, researcher)
    with pytest.raises(Conflict):
        design.delete_item(session, study, a, researcher)
    with pytest.raises(InvalidInput, match="Say why"):
        design.update_item(session, study, a, ItemUpdate(text="First statement, reworded"), researcher)
    with pytest.raises(Conflict):
        design.update_item(session, study, a, ItemUpdate(allow_unable=False, reason="x"), researcher)
    design.update_item(session, study, a, ItemUpdate(text="First statement, reworded", reason="clearer"), researcher, 2)
    merged = design.merge_items(session, study, [a.id, b.id], "Both statements at once", "overlap", researcher, 2)
    assert a.status == b.status == "merged" and merged.origin == "merged" and merged.source_item_ids == [a.id, b.id]
    parts = design.split_item(session, study, merged, ["Part one", "Part two"], "two ideas", researcher, 2)
    assert merged.status == "split" and [p.origin for p in parts] == ["split", "split"]
    history = [(r.item_id, r.action) for r in design.revisions_of(session, study.id)]
    assert (a.id, "reworded") in history and (a.id, "merged") in history and (merged.id, "split") in history
    reworded = next(r for r in design.revisions_of(session, study.id) if r.action == "reworded")
    assert (reworded.before_text, reworded.after_text, reworded.reason, reworded.round_number) == (
        "First statement",
        "First statement, reworded",
        "clearer",
        2,
    )


def test_item_kinds_are_validated(session):
    study = make_study(session)
    from app.studies.schemas import ItemCreate

    with pytest.raises(ValidationError, match="at least two options"):
        ItemCreate(text="Pick one", kind="choice", options=["only"])
    with pytest.raises(ValidationError, match="seed question"):
        ItemCreate(text="How many?", kind="rating", is_seed=True)
    item = design.add_item(
        session, study, ItemCreate(text="How many shops?", kind="estimate", is_seed=True, realization=42.0), None
    )
    assert item.quantiles == [0.05, 0.5, 0.95]


def test_demo_protocol_round_trips_through_toml(session):
    owner = make_researcher(session)
    study = protocol_file.create_from_text(session, DEMO_FILE.read_text(), owner=owner)
    assert len(design.themes_of(session, study.id)) == 7
    exported = protocol_file.export_study(session, study.id)
    data = tomllib.loads(exported)
    assert "email" not in str(data["experts"])  # pseudonyms only unless asked
    assert len(data["experts"]) == 22 and data["narrowing"]["target"] == 10
    with_emails = tomllib.loads(protocol_file.export_study(session, study.id, with_identities=True))
    copy = protocol_file.create_from_text(
        session, protocol_file.export_study(session, study.id, with_identities=True), owner=owner
    )
    again = tomllib.loads(protocol_file.export_study(session, copy.id, with_identities=True))
    assert again == with_emails


def test_the_data_protection_choices_travel_with_the_protocol_file(session):
    text = (
        "format = 1\n[study]\ntitle = 'A study'\n"
        "[data_protection]\nerasure_policy = 'remove_answers'\nexperts_may_erase = true\nretention_months = 36\n"
    )
    study = protocol_file.create_from_text(session, text)
    assert (study.erasure_policy, study.experts_may_erase, study.retention_months) == ("remove_answers", True, 36)
    exported = tomllib.loads(protocol_file.export_study(session, study.id))["data_protection"]
    assert exported == {"erasure_policy": "remove_answers", "experts_may_erase": True, "retention_months": 36}
    plain = protocol_file.create_from_text(session, "format = 1\n[study]\ntitle = 'Another study'\n")
    assert tomllib.loads(protocol_file.export_study(session, plain.id))["data_protection"] == {
        "erasure_policy": "keep_anonymised",
        "experts_may_erase": False,
    }
    with pytest.raises(InvalidInput, match=r"data_protection\.erasure_policy"):
        protocol_file.create_from_text(
            session, "format = 1\n[study]\ntitle = 'A third'\n[data_protection]\nerasure_policy = 'shred'\n"
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format = 1\n[study\ntitle = 'x'", "not valid TOML"),
        (
            "format = 1\n[study]\ntitle = 'A study'\n[protocol]\nconsensus_rule = 'agreement >>= 1'\n",
            "protocol.consensus_rule",
        ),
        (
            "format = 1\n[study]\ntitle = 'A study'\n[[themes]]\ntitle = 'T'\n"
            "[[themes.items]]\ntext = 'x y z'\nkind = 'poll'\n",
            "themes.0.items.0.kind",
        ),
        ("format = 1\n[study]\ntitle = 'A study'\nextra = 1\n", "study.extra"),
    ],
)
def test_bad_protocol_files_say_where(session, text, message):
    with pytest.raises(InvalidInput, match=message.replace(".", r"\.")):
        protocol_file.create_from_text(session, text)


def test_an_items_options_changed_keep_the_rules_of_new_ones(session):
    """Two options or more, each once (a ranking of the same option twice cannot be read), whether
    the item is new or its options are changed before the study is locked."""
    researcher = make_researcher(session)
    study = make_study(session, researcher)
    item = make_item(session, study, None, "Order these", kind="ranking", options=["Price", "Trust"])
    with pytest.raises(InvalidInput, match="different from each other: “Price” is given twice"):
        design.update_item(session, study, item, ItemUpdate(options=["Price", "Trust", "Price "]), researcher)
    with pytest.raises(InvalidInput, match="“price” is given twice"):  # one option to an expert
        design.update_item(session, study, item, ItemUpdate(options=["Price", "Trust", "price"]), researcher)
    with pytest.raises(InvalidInput, match="at least two options"):
        design.update_item(session, study, item, ItemUpdate(options=["Price", " "]), researcher)
    design.update_item(session, study, item, ItemUpdate(options=[" Speed", "Price", "Trust"]), researcher)
    assert item.options == ["Speed", "Price", "Trust"]
