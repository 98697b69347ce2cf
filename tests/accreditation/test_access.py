"""The access decision over plain data: every reason is given, and dates lapse at the start of the day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from accreditation.access import AccessFacts, AccountStatus, AccreditationStatus, Refusal, decide_access
from accreditation.criteria import SEED_CRITERIA, unmet_mandatory

TODAY = date(2026, 11, 30)
ALLOWED = AccessFacts(
    organisation_status=AccreditationStatus.ACCREDITED,
    accredited_until=TODAY + timedelta(days=1),
    vetting_expires_on=TODAY + timedelta(days=1),
    training_completed_on=TODAY,
    approved_on=TODAY,
    account_status=AccountStatus.ACTIVE,
    token_enrolled=True,
)


def test_everything_in_place_allows_access() -> None:
    decision = decide_access(ALLOWED, TODAY)
    assert decision.allowed and decision.reasons == () and decision.message == ""


def test_each_missing_piece_is_a_reason_of_its_own() -> None:
    cases = {
        Refusal.ORGANISATION_NOT_ACCREDITED: replace(ALLOWED, organisation_status=AccreditationStatus.PENDING),
        Refusal.ORGANISATION_SUSPENDED: replace(ALLOWED, organisation_status=AccreditationStatus.SUSPENDED),
        Refusal.ORGANISATION_EXPIRED: replace(ALLOWED, accredited_until=TODAY),
        Refusal.VETTING_MISSING: replace(ALLOWED, vetting_expires_on=None),
        Refusal.VETTING_EXPIRED: replace(ALLOWED, vetting_expires_on=TODAY),
        Refusal.TRAINING_INCOMPLETE: replace(ALLOWED, training_completed_on=None),
        Refusal.NOT_APPROVED: replace(ALLOWED, approved_on=None),
        Refusal.ACCOUNT_SUSPENDED: replace(ALLOWED, account_status=AccountStatus.SUSPENDED),
        Refusal.ACCOUNT_CLOSED: replace(ALLOWED, account_status=AccountStatus.CLOSED),
        Refusal.NO_TOKEN: replace(ALLOWED, token_enrolled=False),
    }
    for reason, facts in cases.items():
        decision = decide_access(facts, TODAY)
        assert not decision.allowed and decision.reasons == (reason,), reason


def test_every_reason_is_given_at_once() -> None:
    nothing = AccessFacts(AccreditationStatus.PENDING, None, None, None, None, AccountStatus.SUSPENDED, False)
    decision = decide_access(nothing, TODAY)
    assert set(decision.reasons) == {
        Refusal.ORGANISATION_NOT_ACCREDITED,
        Refusal.VETTING_MISSING,
        Refusal.TRAINING_INCOMPLETE,
        Refusal.NOT_APPROVED,
        Refusal.ACCOUNT_SUSPENDED,
        Refusal.NO_TOKEN,
    }
    assert "Your account is suspended." in decision.message


def test_a_check_lapses_at_the_start_of_its_expiry_day() -> None:
    facts = replace(ALLOWED, vetting_expires_on=TODAY + timedelta(days=1), accredited_until=TODAY + timedelta(days=9))
    assert decide_access(facts, TODAY).allowed
    assert decide_access(facts, TODAY + timedelta(days=1)).reasons == (Refusal.VETTING_EXPIRED,)


def test_training_or_approval_dated_in_the_future_does_not_count() -> None:
    assert decide_access(replace(ALLOWED, training_completed_on=TODAY + timedelta(days=1)), TODAY).reasons == (
        Refusal.TRAINING_INCOMPLETE,
    )
    assert decide_access(replace(ALLOWED, approved_on=TODAY + timedelta(days=1)), TODAY).reasons == (
        Refusal.NOT_APPROVED,
    )


def test_waiving_only_the_token_for_enrolment() -> None:
    decision = decide_access(replace(ALLOWED, token_enrolled=False), TODAY)
    assert decision.allowed_but_for(Refusal.NO_TOKEN)
    both = decide_access(replace(ALLOWED, token_enrolled=False, vetting_expires_on=None), TODAY)
    assert not both.allowed_but_for(Refusal.NO_TOKEN)


def test_an_organisation_is_accredited_only_when_every_mandatory_criterion_is_met() -> None:
    mandatory = [seed.code for seed in SEED_CRITERIA if seed.mandatory]
    assert len(mandatory) >= 18 and "vetting" in mandatory and "death_of_child" in mandatory
    assert unmet_mandatory(mandatory, mandatory[1:]) == [mandatory[0]]
    assert unmet_mandatory(mandatory, mandatory + ["local_procedures"]) == []


def test_every_reason_can_be_told_to_an_administrator() -> None:
    assert all(reason.about_them and "you" not in reason.about_them.lower() for reason in Refusal)
