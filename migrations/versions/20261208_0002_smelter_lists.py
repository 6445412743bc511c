"""smelter lists: the imported smelter reference, RMAP status, red flags, and each import

`outreach smelter import` replaces one kind's rows whole; `smelter_imports` keeps one row per
import with its counts and the changes it made.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import outreach.db.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _imported_from() -> list[sa.Column]:
    return [
        sa.Column('import_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=255), nullable=False),
        sa.Column('imported_at', outreach.db.types.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('smelter_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('template', sa.String(length=32), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('removed', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('skipped_invalid', sa.Integer(), nullable=False),
    sa.Column('changes', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('imported_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smelter_imports'))
    )
    with op.batch_alter_table('smelter_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_smelter_imports_imported_at'), ['imported_at'],
                              unique=False)

    op.create_table('smelter_reference',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cid', sa.String(length=9), nullable=False),
    sa.Column('metal', sa.Text(), nullable=False),
    sa.Column('standard_name', sa.Text(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.Column('aliases', outreach.db.types.JSONColumn, nullable=False),
    *_imported_from(),
    sa.ForeignKeyConstraint(['import_id'], ['smelter_imports.id'],
                            name=op.f('fk_smelter_reference_import_id_smelter_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smelter_reference')),
    sa.UniqueConstraint('cid', name=op.f('uq_smelter_reference_cid'))
    )
    with op.batch_alter_table('smelter_reference', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_smelter_reference_import_id'), ['import_id'],
                              unique=False)

    op.create_table('smelter_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cid', sa.String(length=9), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    *_imported_from(),
    sa.ForeignKeyConstraint(['import_id'], ['smelter_imports.id'],
                            name=op.f('fk_smelter_status_import_id_smelter_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smelter_status')),
    sa.UniqueConstraint('cid', name=op.f('uq_smelter_status_cid'))
    )
    with op.batch_alter_table('smelter_status', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_smelter_status_import_id'), ['import_id'],
                              unique=False)

    op.create_table('smelter_red_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_name', sa.Text(), nullable=False),
    sa.Column('cid', sa.String(length=9), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('country', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    *_imported_from(),
    sa.ForeignKeyConstraint(['import_id'], ['smelter_imports.id'],
                            name=op.f('fk_smelter_red_flags_import_id_smelter_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smelter_red_flags'))
    )
    with op.batch_alter_table('smelter_red_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_smelter_red_flags_cid'), ['cid'], unique=False)
        batch_op.create_index(batch_op.f('ix_smelter_red_flags_import_id'), ['import_id'],
                              unique=False)


def downgrade() -> None:
    for table in ('smelter_red_flags', 'smelter_status', 'smelter_reference'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_import_id'))
            if table == 'smelter_red_flags':
                batch_op.drop_index(batch_op.f('ix_smelter_red_flags_cid'))
        op.drop_table(table)
    with op.batch_alter_table('smelter_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_smelter_imports_imported_at'))
    op.drop_table('smelter_imports')
