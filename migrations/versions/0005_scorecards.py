"""Scorecards and evaluations: templates with weighted KPIs (SLA, survey or manual
source) and grade bands; evaluations per vendor or team and period, with revisions,
per-KPI lines (settings copied, flags, manual scores) and adjustments with reasons.

Revision ID: 0005_scorecards
Revises: 0004_sla
Create Date: 2026-11-22 05:41:13.789001

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_scorecards'
down_revision = '0004_sla'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scorecard_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('grade_bands', sa.JSON(), nullable=False),
    sa.Column('min_responses', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('min_responses >= 1', name=op.f('ck_scorecard_templates_min_responses')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_scorecard_templates_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scorecard_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_scorecard_templates_name'))
    )
    op.create_table('evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('base_composite', sa.Float(), nullable=True),
    sa.Column('composite', sa.Float(), nullable=True),
    sa.Column('coverage', sa.Float(), nullable=True),
    sa.Column('reweighted', sa.Boolean(), nullable=False),
    sa.Column('grade', sa.String(length=32), nullable=True),
    sa.Column('grade_bands', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('computed_by_id', sa.Integer(), nullable=True),
    sa.Column('finalised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finalised_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status <> 'final' OR finalised_at IS NOT NULL", name=op.f('ck_evaluations_final_has_time')),
    sa.CheckConstraint("status IN ('draft', 'final')", name=op.f('ck_evaluations_status')),
    sa.CheckConstraint('(CASE WHEN vendor_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_evaluations_one_entity')),
    sa.CheckConstraint('revision >= 1', name=op.f('ck_evaluations_revision')),
    sa.ForeignKeyConstraint(['computed_by_id'], ['users.id'], name=op.f('fk_evaluations_computed_by_id_users')),
    sa.ForeignKeyConstraint(['finalised_by_id'], ['users.id'], name=op.f('fk_evaluations_finalised_by_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_evaluations_team_id_teams')),
    sa.ForeignKeyConstraint(['template_id'], ['scorecard_templates.id'], name=op.f('fk_evaluations_template_id_scorecard_templates')),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_evaluations_vendor_id_vendors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations')),
    sa.UniqueConstraint('template_id', 'team_id', 'period', 'revision', name='uq_evaluations_team_revision'),
    sa.UniqueConstraint('template_id', 'vendor_id', 'period', 'revision', name='uq_evaluations_vendor_revision')
    )
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluations_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluations_template_id'), ['template_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluations_vendor_id'), ['vendor_id'], unique=False)

    op.create_table('scorecard_kpis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('floor', sa.Float(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('source_kind', sa.String(length=8), nullable=False),
    sa.Column('sla_metric_name', sa.String(length=200), nullable=True),
    sa.Column('survey_measure', sa.String(length=16), nullable=True),
    sa.Column('dimension_key', sa.String(length=64), nullable=True),
    sa.Column('questionnaire_id', sa.Integer(), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(direction = 'higher' AND floor < target) OR (direction = 'lower' AND floor > target)", name=op.f('ck_scorecard_kpis_floor_side')),
    sa.CheckConstraint("direction IN ('higher', 'lower')", name=op.f('ck_scorecard_kpis_direction')),
    sa.CheckConstraint("family IN ('delivery_time', 'quality', 'cost_effectiveness', 'communication', 'innovation', 'customer_satisfaction')", name=op.f('ck_scorecard_kpis_family')),
    sa.CheckConstraint("source_kind <> 'sla' OR sla_metric_name IS NOT NULL", name=op.f('ck_scorecard_kpis_sla_rule')),
    sa.CheckConstraint("source_kind <> 'survey' OR (survey_measure IS NOT NULL AND (survey_measure <> 'dimension' OR dimension_key IS NOT NULL))", name=op.f('ck_scorecard_kpis_survey_rule')),
    sa.CheckConstraint("source_kind IN ('sla', 'survey', 'manual')", name=op.f('ck_scorecard_kpis_source_kind')),
    sa.CheckConstraint("survey_measure IS NULL OR survey_measure IN ('csat', 'nps', 'ces', 'dimension')", name=op.f('ck_scorecard_kpis_survey_measure')),
    sa.CheckConstraint('weight >= 0 AND weight <= 100', name=op.f('ck_scorecard_kpis_weight')),
    sa.ForeignKeyConstraint(['questionnaire_id'], ['questionnaires.id'], name=op.f('fk_scorecard_kpis_questionnaire_id_questionnaires')),
    sa.ForeignKeyConstraint(['template_id'], ['scorecard_templates.id'], name=op.f('fk_scorecard_kpis_template_id_scorecard_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scorecard_kpis'))
    )
    with op.batch_alter_table('scorecard_kpis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scorecard_kpis_template_id'), ['template_id'], unique=False)

    op.create_table('evaluation_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points >= -100 AND points <= 100 AND points <> 0', name=op.f('ck_evaluation_adjustments_points')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_evaluation_adjustments_created_by_id_users')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], name=op.f('fk_evaluation_adjustments_evaluation_id_evaluations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_adjustments'))
    )
    with op.batch_alter_table('evaluation_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_adjustments_evaluation_id'), ['evaluation_id'], unique=False)

    op.create_table('evaluation_kpis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('kpi_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('floor', sa.Float(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('source_kind', sa.String(length=8), nullable=False),
    sa.Column('source_label', sa.String(length=300), nullable=False),
    sa.Column('raw_value', sa.Float(), nullable=True),
    sa.Column('n', sa.Integer(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('weight_used', sa.Float(), nullable=False),
    sa.Column('no_data', sa.Boolean(), nullable=False),
    sa.Column('too_few_responses', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('manual_score', sa.Float(), nullable=True),
    sa.Column('manual_comment', sa.Text(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('manual_score IS NULL OR (manual_score >= 0 AND manual_score <= 100)', name=op.f('ck_evaluation_kpis_manual_score')),
    sa.CheckConstraint('score IS NULL OR (score >= 0 AND score <= 100)', name=op.f('ck_evaluation_kpis_score')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], name=op.f('fk_evaluation_kpis_evaluation_id_evaluations')),
    sa.ForeignKeyConstraint(['kpi_id'], ['scorecard_kpis.id'], name=op.f('fk_evaluation_kpis_kpi_id_scorecard_kpis')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_evaluation_kpis_reviewer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_kpis')),
    sa.UniqueConstraint('evaluation_id', 'kpi_id', name='uq_evaluation_kpis_kpi')
    )
    with op.batch_alter_table('evaluation_kpis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluation_kpis_evaluation_id'), ['evaluation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluation_kpis_kpi_id'), ['kpi_id'], unique=False)


def downgrade():
    with op.batch_alter_table('evaluation_kpis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_kpis_kpi_id'))
        batch_op.drop_index(batch_op.f('ix_evaluation_kpis_evaluation_id'))

    op.drop_table('evaluation_kpis')
    with op.batch_alter_table('evaluation_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluation_adjustments_evaluation_id'))

    op.drop_table('evaluation_adjustments')
    with op.batch_alter_table('scorecard_kpis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scorecard_kpis_template_id'))

    op.drop_table('scorecard_kpis')
    with op.batch_alter_table('evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluations_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_evaluations_template_id'))
        batch_op.drop_index(batch_op.f('ix_evaluations_team_id'))

    op.drop_table('evaluations')
    op.drop_table('scorecard_templates')
