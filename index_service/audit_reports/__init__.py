"""The auditors' reports and the subject access pack: they read the audit trail (index_service/audit/)
and the features it names, so the trail itself depends on no feature."""
