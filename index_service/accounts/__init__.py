"""User administration: a user administrator's own organisation's accounts, checks, roles and tokens."""
