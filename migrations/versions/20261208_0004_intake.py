"""intake: polled folders, inbound and submission details, smelter rows, contact suggestions

Intake records each polled folder's UIDVALIDITY epoch and baseline, how each inbound mail was
matched (or why it is quarantined), the hashes that recognise it after a UIDVALIDITY change,
and whether its mail action was applied. Submissions get their supplier, sniffed kind,
source, the declaration as read, duplicate/reuse links and one row per smelter; requests
get the time of the first real response. Contact suggestions wait for a person.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 01:43:54
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import outreach.db.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbox_folders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=320), nullable=False),
    sa.Column('folder', sa.String(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('baseline_uid', sa.BigInteger(), nullable=False),
    sa.Column('since', sa.Date(), nullable=True),
    sa.Column('first_seen_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('last_polled_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_folders')),
    sa.UniqueConstraint('account', 'folder', 'uidvalidity', name=op.f('uq_inbox_folders_account_folder_uidvalidity'))
    )
    op.create_table('contact_suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False,
                                      server_default='email'),
    sa.Column('inbound_message_id', sa.Integer(), nullable=True),
    sa.Column('submission_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', outreach.db.types.UTCDateTime(), nullable=False),
    sa.Column('decided_at', outreach.db.types.UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'], name=op.f('fk_contact_suggestions_inbound_message_id_inbound_messages')),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_contact_suggestions_submission_id_submissions')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_contact_suggestions_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_suggestions')),
    sa.UniqueConstraint('supplier_id', 'role', 'email', name=op.f('uq_contact_suggestions_supplier_id_role_email'))
    )
    with op.batch_alter_table('contact_suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_suggestions_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('submission_smelters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('metal', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('country', sa.Text(), nullable=True),
    sa.Column('cid', sa.String(length=16), nullable=True),
    sa.Column('rmap_status', sa.String(length=20), nullable=True),
    sa.Column('red_flags', outreach.db.types.JSONColumn, nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_submission_smelters_submission_id_submissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission_smelters'))
    )
    with op.batch_alter_table('submission_smelters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_smelters_cid'), ['cid'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_smelters_submission_id'), ['submission_id'], unique=False)

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_stored', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('supplier_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('match_method', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('attachment_hashes', outreach.db.types.JSONColumn,
                                      nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('duplicate_of', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('actioned_at', outreach.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', outreach.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_inbound_messages_raw_sha256'), ['raw_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_messages_supplier_id'), ['supplier_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_inbound_messages_supplier_id_suppliers'), 'suppliers', ['supplier_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_inbound_messages_duplicate_of_inbound_messages'), 'inbound_messages', ['duplicate_of'], ['id'])

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('responded_at', outreach.db.types.UTCDateTime(), nullable=True))

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supplier_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=False,
                                      server_default='email'))
        batch_op.add_column(sa.Column('declaration', outreach.db.types.JSONColumn, nullable=True))
        batch_op.add_column(sa.Column('duplicate_of', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reused_from', sa.Integer(), nullable=True))
        batch_op.alter_column('sha256',
               existing_type=sa.VARCHAR(length=64),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_submissions_supplier_id'), ['supplier_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_submissions_supplier_id_suppliers'), 'suppliers', ['supplier_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_submissions_duplicate_of_submissions'), 'submissions', ['duplicate_of'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_submissions_reused_from_submissions'), 'submissions', ['reused_from'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_submissions_reused_from_submissions'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_submissions_duplicate_of_submissions'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_submissions_supplier_id_suppliers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_submissions_supplier_id'))
        batch_op.alter_column('sha256',
               existing_type=sa.VARCHAR(length=64),
               nullable=False)
        batch_op.drop_column('reused_from')
        batch_op.drop_column('duplicate_of')
        batch_op.drop_column('declaration')
        batch_op.drop_column('source')
        batch_op.drop_column('kind')
        batch_op.drop_column('supplier_id')

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('responded_at')

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inbound_messages_duplicate_of_inbound_messages'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_inbound_messages_supplier_id_suppliers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inbound_messages_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_status'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_raw_sha256'))
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('actioned_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('duplicate_of')
        batch_op.drop_column('attachment_hashes')
        batch_op.drop_column('note')
        batch_op.drop_column('match_method')
        batch_op.drop_column('supplier_id')
        batch_op.drop_column('raw_stored')

    with op.batch_alter_table('submission_smelters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_smelters_submission_id'))
        batch_op.drop_index(batch_op.f('ix_submission_smelters_cid'))

    op.drop_table('submission_smelters')
    with op.batch_alter_table('contact_suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_suggestions_supplier_id'))

    op.drop_table('contact_suggestions')
    op.drop_table('inbox_folders')
