"""The migrations build exactly the schema the models declare, and step down again.

Alembic's autogenerate comparison between the upgraded database and ``Base.metadata`` finds
any table, column, index or constraint that a model change forgot to migrate (or the reverse)
on both databases Aqd supports.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine.db import get_engine
from engine.models import Base
from engine.schema_migrations import alembic_config


def _differences(url: str) -> list[Any]:
    with get_engine(url).connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_migrations_match_the_models(db_url: str) -> None:
    assert _differences(db_url) == []


def test_inbox_index_covers_lane_and_id(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("human_task")}
    assert indexes["ix_human_task_inbox"] == ["office_id", "status", "lane", "due_at", "id"]


def test_latest_migration_steps_down_and_up(db_url: str) -> None:
    from alembic import command

    engine = get_engine(db_url)
    for target in ("-1", "head"):
        with engine.begin() as conn:
            cfg = alembic_config(db_url)
            cfg.attributes["connection"] = conn
            (command.downgrade if target == "-1" else command.upgrade)(cfg, target)
    assert _differences(db_url) == []


def test_workflow_states_are_compressed_with_lz4_on_postgresql(world: Any) -> None:
    if not world.url.startswith("postgresql"):
        return  # SQLite stores the bytes as they are
    cid = world.start()
    world.activate(cid)
    with get_engine(world.url).connect() as conn:
        method = conn.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'process_instance'::regclass AND attname = 'state'"
        ).scalar()
        written = conn.exec_driver_sql(
            "SELECT pg_column_compression(state) FROM process_instance "
            "WHERE contract_id = %s AND length(state) > 8192",
            (cid,),
        ).scalars()
        assert method == "l"
        assert set(written) == {"lz4"}
