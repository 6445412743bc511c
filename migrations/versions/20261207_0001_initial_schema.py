"""initial schema: suppliers, contacts, campaigns, requests, messages, submissions, events

The events table is append-only: triggers refuse UPDATE and DELETE on both databases.

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-07 16:57:55.972513
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import outreach.db.types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('template_family', sa.String(length=8), nullable=False),
    sa.Column('reporting_year', sa.Integer(), nullable=False),
    sa.Column('min_version', sa.String(length=16), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('scope_tags', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('ladder', outreach.db.types.JSONColumn, nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('started_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('paused_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('closed_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('suppliers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('email_domains', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('buyer', sa.String(length=300), nullable=True),
    sa.Column('scope_tags', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('deactivated_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
    sa.UniqueConstraint('code', name=op.f('uq_suppliers_code'))
    )
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('bounced_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_contacts_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('supplier_id', 'role', 'email', name=op.f('uq_contacts_supplier_id_role_email'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=True),
    sa.Column('stage_repeat', sa.Integer(), nullable=False),
    sa.Column('stage_sent_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('next_action_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('paused_until', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('reply_token', sa.String(length=32), nullable=False),
    sa.Column('joined_late', sa.Boolean(), nullable=False),
    sa.Column('exempt_reason', sa.String(length=1000), nullable=True),
    sa.Column('accepted_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_requests_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_requests_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requests')),
    sa.UniqueConstraint('campaign_id', 'supplier_id', name=op.f('uq_requests_campaign_id_supplier_id')),
    sa.UniqueConstraint('reply_token', name=op.f('uq_requests_reply_token'))
    )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requests_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_next_action_at'), ['next_action_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('supplier_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('data', outreach.db.types.JSONColumn, nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_events_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_events_request_id_requests')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_events_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=320), nullable=False),
    sa.Column('folder', sa.String(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('from_address', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('sent_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('received_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('raw_sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('classification', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('processed_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_inbound_messages_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('account', 'folder', 'uidvalidity', 'uid', name=op.f('uq_inbound_messages_account_folder_uidvalidity_uid'))
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_messages_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_request_id'), ['request_id'], unique=False)

    op.create_table('outbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('stage', sa.String(length=40), nullable=True),
    sa.Column('repeat', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.String(length=250), nullable=False),
    sa.Column('from_address', sa.String(length=320), nullable=False),
    sa.Column('to_addresses', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('cc_addresses', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('subject', sa.String(length=998), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('attachment_sha256', sa.String(length=64), nullable=True),
    sa.Column('attachment_name', sa.String(length=255), nullable=True),
    sa.Column('template_hash', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('lease_until', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('sent_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_outbound_messages_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbound_messages_idempotency_key')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbound_messages_message_id'))
    )
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_messages_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_messages_request_id'), ['request_id'], unique=False)

    op.create_table('submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('inbound_message_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('received_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('template', sa.String(length=8), nullable=True),
    sa.Column('version', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('required_missing', sa.Integer(), nullable=True),
    sa.Column('findings', outreach.db.types.JSONColumn, nullable=False),
    sa.Column('validated_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'], name=op.f('fk_submissions_inbound_message_id_inbound_messages')),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_submissions_request_id_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions'))
    )
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submissions_inbound_message_id'), ['inbound_message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_sha256'), ['sha256'], unique=False)


    _make_events_append_only()


def downgrade() -> None:
    _drop_events_guard()
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submissions_sha256'))
        batch_op.drop_index(batch_op.f('ix_submissions_request_id'))
        batch_op.drop_index(batch_op.f('ix_submissions_inbound_message_id'))

    op.drop_table('submissions')
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_messages_request_id'))
        batch_op.drop_index(batch_op.f('ix_outbound_messages_next_attempt_at'))

    op.drop_table('outbound_messages')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_request_id'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_message_id'))

    op.drop_table('inbound_messages')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_events_request_id'))
        batch_op.drop_index(batch_op.f('ix_events_kind'))
        batch_op.drop_index(batch_op.f('ix_events_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_events_at'))

    op.drop_table('events')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requests_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_requests_next_action_at'))
        batch_op.drop_index(batch_op.f('ix_requests_campaign_id'))

    op.drop_table('requests')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_contacts_email'))

    op.drop_table('contacts')
    op.drop_table('suppliers')
    op.drop_table('campaigns')


APPEND_ONLY_MESSAGE = "events is an append-only audit log"


def _make_events_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION outreach_events_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END; $$ LANGUAGE plpgsql"
        )
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                "FOR EACH ROW EXECUTE FUNCTION outreach_events_append_only()"
            )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )


def _drop_events_guard() -> None:
    for action in ("update", "delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS events_no_{action} ON events")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS events_no_{action}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS outreach_events_append_only()")
