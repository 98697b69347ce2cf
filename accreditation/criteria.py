"""The accreditation criteria an organisation must meet, and the rule that decides when it may be accredited.

The list is seeded into the database by migration 0006 (ContactPoint's set); the index team
then manages it in the web UI, so the database, not this list, is what applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CriterionSeed:
    code: str
    title: str
    mandatory: bool = True


SEED_CRITERIA: tuple[CriterionSeed, ...] = (
    CriterionSeed("hr_records", "HR records are kept for everyone with access"),
    CriterionSeed("vetting", "Enhanced vetting checks are current for everyone with access"),
    CriterionSeed("exit_procedure", "The exit procedure returns tokens and closes accounts the same day"),
    CriterionSeed("induction_training", "Training on the index is part of induction"),
    CriterionSeed("misuse_policy", "A misuse policy is in place and staff know it"),
    CriterionSeed("shielding_policy", "A shielding policy is in place"),
    CriterionSeed("override_investigation", "Emergency overrides are investigated"),
    CriterionSeed("sensitive_consent", "Consent is recorded for sensitive services"),
    CriterionSeed("mediated_access", "Mediated access is arranged for practitioners without direct access"),
    CriterionSeed("token_management", "Two-factor tokens are issued, revoked and reissued under control"),
    CriterionSeed("helpdesk", "A helpdesk and first-line support are in place"),
    CriterionSeed("subject_access", "Subject access requests are answered"),
    CriterionSeed("line_manager_monitoring", "Line managers monitor their staff's use of the index"),
    CriterionSeed("workstation_security", "Workstations and the network are secure"),
    CriterionSeed("death_of_child", "The death of a child is reported to the index"),
    CriterionSeed("data_sharing_agreements", "Data sharing agreements are in place with the index's sources"),
    CriterionSeed("disputed_data", "Disputed data is raised and resolved"),
    CriterionSeed("data_quality", "Data supplied to the index is checked for quality"),
    CriterionSeed("local_procedures", "Local procedures are documented", mandatory=False),
)


def unmet_mandatory(mandatory_codes: Iterable[str], met_codes: Iterable[str]) -> list[str]:
    """The mandatory criteria not yet met, in order; an organisation is accredited only when none is left."""
    met = set(met_codes)
    return [code for code in mandatory_codes if code not in met]
