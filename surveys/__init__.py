"""Questionnaires and versions, the builder, import/export, open links, the respondent
flow, responses and answers."""
