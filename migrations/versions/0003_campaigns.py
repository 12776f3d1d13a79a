"""Campaigns: audiences, subjects, invitations with hashed tokens, email log and
opt-outs, webhooks, background job runs; response links to invitations and fields.

Existing open links become launched public campaigns (launched when created).

Revision ID: 0003_campaigns
Revises: 0002_questionnaires
Create Date: 2026-11-22 04:09:25.351532

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_campaigns'
down_revision = '0002_questionnaires'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('email_opt_outs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_opt_outs')),
    sa.UniqueConstraint('email_hash', name=op.f('uq_email_opt_outs_email_hash'))
    )
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('token_nonce', sa.String(length=64), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('token_issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('send_status', sa.String(length=16), nullable=False),
    sa.Column('send_attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("send_status IN ('pending', 'queued', 'sent', 'failed', 'opted_out')", name=op.f('ck_invitations_send_status')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_invitations_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_invitations_team_id_teams')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('campaign_id', 'email', name='uq_invitations_email'),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_campaign_completed', ['campaign_id', 'completed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_user_id'), ['user_id'], unique=False)

    op.create_table('task_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_task_runs_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_task_runs_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_runs')),
    sa.UniqueConstraint('uid', name=op.f('uq_task_runs_uid'))
    )
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_runs_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('email_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_email_messages_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_email_messages_invitation_id_invitations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_messages'))
    )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_messages_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_messages_invitation_id'), ['invitation_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_webhook_deliveries_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_webhook_deliveries_response_id_responses'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_campaign_id'), ['campaign_id'], unique=False)

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(length=16), nullable=False, server_default='public'))
        batch_op.add_column(sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('subject_team_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('subject_vendor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('subject_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('default_locale', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('anonymous', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('one_response_per_browser', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('hidden_fields', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('min_group_size', sa.Integer(), nullable=False, server_default='5'))
        batch_op.add_column(sa.Column('max_reminders', sa.Integer(), nullable=False, server_default='2'))
        batch_op.add_column(sa.Column('remind_days_before_close', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('email_templates', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('webhook_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=128), nullable=True))
        batch_op.create_check_constraint('audience', "audience IN ('public', 'personal')")
        batch_op.create_check_constraint(
            'one_subject',
            "(CASE WHEN subject_team_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN subject_vendor_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN subject_user_id IS NULL THEN 0 ELSE 1 END) <= 1",
        )
        batch_op.create_check_constraint('min_group_size', 'min_group_size >= 1')
        batch_op.create_check_constraint('max_reminders', 'max_reminders >= 0')
        batch_op.create_index(batch_op.f('ix_campaigns_subject_team_id'), ['subject_team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_subject_user_id'), ['subject_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaigns_subject_vendor_id'), ['subject_vendor_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_subject_team_id_teams'), 'teams', ['subject_team_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_subject_vendor_id_vendors'), 'vendors', ['subject_vendor_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_subject_user_id_users'), 'users', ['subject_user_id'], ['id'])

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('invitation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('fields', sa.JSON(), nullable=True))
        batch_op.create_index('ix_responses_campaign_submitted', ['campaign_id', 'submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_responses_deleted_by_id_users'), 'users', ['deleted_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_responses_invitation_id_invitations'), 'invitations', ['invitation_id'], ['id'], ondelete='SET NULL')

    # Links made before campaigns had a launch step were live from their creation.
    op.execute('UPDATE campaigns SET launched_at = created_at')
    # The server defaults only filled existing rows; the models set the values.
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        for column in ('audience', 'anonymous', 'one_response_per_browser', 'hidden_fields',
                       'min_group_size', 'max_reminders'):
            batch_op.alter_column(column, server_default=None)


def downgrade():
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_responses_invitation_id_invitations'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_responses_deleted_by_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_responses_invitation_id'))
        batch_op.drop_index('ix_responses_campaign_submitted')
        batch_op.drop_column('fields')
        batch_op.drop_column('invitation_id')
        batch_op.drop_column('deleted_by_id')

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_campaigns_subject_user_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_campaigns_subject_vendor_id_vendors'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_campaigns_subject_team_id_teams'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_campaigns_subject_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_campaigns_subject_user_id'))
        batch_op.drop_index(batch_op.f('ix_campaigns_subject_team_id'))
        for name in ('max_reminders', 'min_group_size', 'one_subject', 'audience'):
            batch_op.drop_constraint(batch_op.f(f'ck_campaigns_{name}'), type_='check')
        batch_op.drop_column('webhook_secret')
        batch_op.drop_column('webhook_url')
        batch_op.drop_column('email_templates')
        batch_op.drop_column('remind_days_before_close')
        batch_op.drop_column('max_reminders')
        batch_op.drop_column('min_group_size')
        batch_op.drop_column('hidden_fields')
        batch_op.drop_column('one_response_per_browser')
        batch_op.drop_column('anonymous')
        batch_op.drop_column('default_locale')
        batch_op.drop_column('subject_user_id')
        batch_op.drop_column('subject_vendor_id')
        batch_op.drop_column('subject_team_id')
        batch_op.drop_column('launched_at')
        batch_op.drop_column('audience')

    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_campaign_id'))

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_messages_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_email_messages_campaign_id'))

    op.drop_table('email_messages')
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_runs_campaign_id'))

    op.drop_table('task_runs')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_user_id'))
        batch_op.drop_index(batch_op.f('ix_invitations_team_id'))
        batch_op.drop_index(batch_op.f('ix_invitations_campaign_id'))
        batch_op.drop_index('ix_invitations_campaign_completed')

    op.drop_table('invitations')
    op.drop_table('email_opt_outs')
