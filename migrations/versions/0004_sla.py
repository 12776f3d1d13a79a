"""SLA metrics and measurements: per vendor or team (exactly one), with target,
optional warning threshold, aggregation and period; measurements idempotent by
external id per metric, indexed by metric and time.

Revision ID: 0004_sla
Revises: 0003_campaigns
Create Date: 2026-11-22 05:34:27.702679

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_sla'
down_revision = '0003_campaigns'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sla_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('warning', sa.Float(), nullable=True),
    sa.Column('aggregation', sa.String(length=16), nullable=False),
    sa.Column('percentile', sa.Float(), nullable=True),
    sa.Column('rate_threshold', sa.Float(), nullable=True),
    sa.Column('rate_comparison', sa.String(length=2), nullable=True),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("aggregation <> 'percentile' OR (percentile > 0 AND percentile <= 100)", name=op.f('ck_sla_metrics_percentile')),
    sa.CheckConstraint("aggregation <> 'rate' OR (rate_threshold IS NOT NULL AND rate_comparison IS NOT NULL)", name=op.f('ck_sla_metrics_rate_rule')),
    sa.CheckConstraint("aggregation IN ('mean', 'percentile', 'rate', 'sum')", name=op.f('ck_sla_metrics_aggregation')),
    sa.CheckConstraint("direction IN ('higher', 'lower')", name=op.f('ck_sla_metrics_direction')),
    sa.CheckConstraint("period IN ('monthly', 'quarterly', 'half_yearly', 'yearly')", name=op.f('ck_sla_metrics_period')),
    sa.CheckConstraint("rate_comparison IS NULL OR rate_comparison IN ('ge', 'le')", name=op.f('ck_sla_metrics_rate_comparison')),
    sa.CheckConstraint('(CASE WHEN vendor_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_sla_metrics_one_entity')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_sla_metrics_team_id_teams')),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_sla_metrics_vendor_id_vendors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_metrics')),
    sa.UniqueConstraint('team_id', 'name', name='uq_sla_metrics_team_name'),
    sa.UniqueConstraint('vendor_id', 'name', name='uq_sla_metrics_vendor_name')
    )
    with op.batch_alter_table('sla_metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_metrics_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_metrics_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('sla_measurements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric_id', sa.Integer(), nullable=False),
    sa.Column('measured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('upload', 'api', 'survey', 'manual')", name=op.f('ck_sla_measurements_source')),
    sa.ForeignKeyConstraint(['metric_id'], ['sla_metrics.id'], name=op.f('fk_sla_measurements_metric_id_sla_metrics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_measurements')),
    sa.UniqueConstraint('metric_id', 'external_id', name='uq_sla_measurements_external_id')
    )
    with op.batch_alter_table('sla_measurements', schema=None) as batch_op:
        batch_op.create_index('ix_sla_measurements_metric_time', ['metric_id', 'measured_at'], unique=False)



def downgrade():
    with op.batch_alter_table('sla_measurements', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_measurements_metric_time')

    op.drop_table('sla_measurements')
    with op.batch_alter_table('sla_metrics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_metrics_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_sla_metrics_team_id'))

    op.drop_table('sla_metrics')
