"""Who may do what: roles, permissions and (later) organisational accreditation.

Plain Python with no Flask import, so the decisions can be tested and reused on their own.
"""
