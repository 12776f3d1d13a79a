"""Improvement actions: a vendor's or team's improvement plan, one action per row,
addressing a failing or warning scorecard KPI (entity + KPI + period of origin).

Revision ID: 0006_improvement_actions
Revises: 0005_scorecards
Create Date: 2026-11-22 06:20:05.207470

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_improvement_actions'
down_revision = '0005_scorecards'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('improvement_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('kpi_id', sa.Integer(), nullable=False),
    sa.Column('kpi_name', sa.String(length=200), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('owner_name', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'done', 'cancelled')", name=op.f('ck_improvement_actions_status')),
    sa.CheckConstraint('(CASE WHEN vendor_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_improvement_actions_one_entity')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_improvement_actions_created_by_id_users')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], name=op.f('fk_improvement_actions_evaluation_id_evaluations')),
    sa.ForeignKeyConstraint(['kpi_id'], ['scorecard_kpis.id'], name=op.f('fk_improvement_actions_kpi_id_scorecard_kpis')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_improvement_actions_owner_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_improvement_actions_team_id_teams')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_improvement_actions_updated_by_id_users')),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_improvement_actions_vendor_id_vendors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_improvement_actions'))
    )
    with op.batch_alter_table('improvement_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_improvement_actions_evaluation_id'), ['evaluation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_improvement_actions_kpi_id'), ['kpi_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_improvement_actions_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_improvement_actions_vendor_id'), ['vendor_id'], unique=False)


def downgrade():
    with op.batch_alter_table('improvement_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_improvement_actions_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_improvement_actions_team_id'))
        batch_op.drop_index(batch_op.f('ix_improvement_actions_kpi_id'))
        batch_op.drop_index(batch_op.f('ix_improvement_actions_evaluation_id'))

    op.drop_table('improvement_actions')
