"""People and organisation: users, teams, vendors, reporting lines, login, API keys."""
