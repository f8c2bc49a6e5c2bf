"""The migrations produce exactly the models' schema, and go down and up again."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.db import make_engine
from app.migrate import alembic_config
from app.models import metadata


def _differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_migrations_match_the_models(database):
    url = database.fresh()
    assert _differences(url) == []


def test_downgrade_to_base_and_upgrade_again(database):
    url = database.fresh()
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(alembic_config(url), "head")
    assert _differences(url) == []


def test_constraint_names_follow_the_convention(database):
    engine = make_engine(database.fresh())
    inspector = inspect(engine)
    uniques = {u["name"] for u in inspector.get_unique_constraints("answer")}
    foreign = {f["name"] for f in inspector.get_foreign_keys("answer")}
    engine.dispose()
    assert "uq_answer_round_id_expert_id_item_id" in uniques
    assert "fk_answer_round_id_round" in foreign
