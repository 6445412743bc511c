"""digests: one row per (campaign, period) with its due time; whole stored outbound messages

The status digest's due times live in the database, keyed by (campaign, period) so a digest
is sent once however many services run. An outbound message may be stored composed whole
(the digest with its inline chart): delivery then sends those bytes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 02:22:57
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import outreach.db.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=20), nullable=False),
    sa.Column('due_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('outbound_id', sa.Integer(), nullable=True),
    sa.Column('figures', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('sent_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_digests_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['outbound_id'], ['outbound_messages.id'], name=op.f('fk_digests_outbound_id_outbound_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digests')),
    sa.UniqueConstraint('campaign_id', 'period', name=op.f('uq_digests_campaign_id_period'))
    )
    with op.batch_alter_table('digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digests_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digests_due_at'), ['due_at'], unique=False)

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_sha256', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('raw_sha256')

    with op.batch_alter_table('digests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digests_due_at'))
        batch_op.drop_index(batch_op.f('ix_digests_campaign_id'))

    op.drop_table('digests')
