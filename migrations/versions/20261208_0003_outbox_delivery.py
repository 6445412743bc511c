"""outbox delivery: attempts, recipient sends, approvals, delivery state

Delivery records every attempt, the addresses each message reached (the per-contact gap and
rolling cap read them), the approvals that release gated stages, and one row saying whether
delivery is paused (the circuit breaker). Outbound messages get the lease holder's name, Reply-To and thread root;
requests say which stage waits for approval and when a submission was last rejected.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import outreach.db.types

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('delivery_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('paused_by', sa.String(length=200), nullable=True),
    sa.Column('paused_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('connection_failures', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=120), nullable=True),
    sa.Column('lease_until', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('updated_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_state'))
    )
    # the one row delivery reads (created here so two services never race to insert it)
    op.bulk_insert(sa.table('delivery_state', sa.column('id', sa.Integer),
                            sa.column('paused', sa.Boolean),
                            sa.column('connection_failures', sa.Integer),
                            sa.column('updated_at', outreach.db.types.UTCDateTime())),
                   [{'id': 1, 'paused': False, 'connection_failures': 0,
                     'updated_at': datetime(2026, 12, 8, tzinfo=UTC)}])
    op.create_table('approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('approved_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_approvals_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals')),
    sa.UniqueConstraint('request_id', 'stage', name=op.f('uq_approvals_request_id_stage'))
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_request_id'), ['request_id'], unique=False)

    op.create_table('delivery_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbound_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('started_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('finished_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('smtp_code', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['outbound_id'], ['outbound_messages.id'], name=op.f('fk_delivery_attempts_outbound_id_outbound_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempts'))
    )
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempts_outbound_id'), ['outbound_id'], unique=False)

    op.create_table('recipient_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('outbound_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['outbound_id'], ['outbound_messages.id'], name=op.f('fk_recipient_sends_outbound_id_outbound_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipient_sends'))
    )
    with op.batch_alter_table('recipient_sends', schema=None) as batch_op:
        batch_op.create_index('ix_recipient_sends_address_sent_at', ['address', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_recipient_sends_outbound_id'), ['outbound_id'], unique=False)

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('in_reply_to', sa.String(length=250), nullable=True))

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_approval', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('last_rejected_at', outreach.db.types.UTCDateTime(),
                                      nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('last_rejected_at')
        batch_op.drop_column('awaiting_approval')

    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_column('in_reply_to')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('lease_owner')

    with op.batch_alter_table('recipient_sends', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recipient_sends_outbound_id'))
        batch_op.drop_index('ix_recipient_sends_address_sent_at')

    op.drop_table('recipient_sends')
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempts_outbound_id'))

    op.drop_table('delivery_attempts')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_request_id'))

    op.drop_table('approvals')
    op.drop_table('delivery_state')
