"""Synthetic children for the demo, the tests and the benchmarks (Faker, en_GB).

Children come in households: siblings share a family name, an address and carers, and some
are twins sharing a date of birth too, because households are what make identity hard.
Every value is made up; the NHS numbers and UPNs are valid in form only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker
from stdnum.gb import nhs, upn

from index_service.children.models import Gender, NameKind, Service
from index_service.children.records import AddressSpec, ChildSpec, InvolvementSpec
from index_service.organisation_models import OrganisationType


@dataclass(frozen=True)
class OrganisationSpec:
    name: str
    type: OrganisationType
    phone: str
    services: tuple[Service, ...]


ORGANISATIONS = (
    OrganisationSpec(
        "Leeds City Council Children's Social Work Service",
        OrganisationType.LOCAL_AUTHORITY,
        "0113 222 4403",
        (Service.SOCIAL_CARE, Service.EARLY_HELP),
    ),
    OrganisationSpec(
        "Leeds Community Healthcare NHS Trust",
        OrganisationType.NHS_TRUST,
        "0113 220 8500",
        (Service.HEALTH_VISITOR, Service.SCHOOL_NURSE),
    ),
    OrganisationSpec("Park Lane Surgery", OrganisationType.GP_PRACTICE, "0113 496 0001", (Service.GP_PRACTICE,)),
    OrganisationSpec(
        "Chapel Allerton Medical Centre", OrganisationType.GP_PRACTICE, "0113 496 0002", (Service.GP_PRACTICE,)
    ),
    OrganisationSpec("Meadowfield Primary School", OrganisationType.SCHOOL, "0113 496 0101", (Service.EDUCATION,)),
    OrganisationSpec("Oakwood High School", OrganisationType.SCHOOL, "0113 496 0102", (Service.EDUCATION,)),
    OrganisationSpec(
        "Leeds Youth Justice Service", OrganisationType.YOUTH_OFFENDING_TEAM, "0113 395 0000", (Service.YOUTH_JUSTICE,)
    ),
    OrganisationSpec("West Yorkshire Police", OrganisationType.POLICE, "0113 496 0999", ()),
    OrganisationSpec("Child Index National Team", OrganisationType.NATIONAL_INDEX, "0300 123 4567", ()),
)

EXTRA_GIVEN = {
    Gender.MALE: ["Muhammad", "Mohammed", "Ibrahim", "Yusuf", "Oliwier", "Jakub", "Kacper", "Kofi", "Arjun", "Rhys"],
    Gender.FEMALE: ["Aisha", "Ayesha", "Fatima", "Maryam", "Zainab", "Oliwia", "Zuzanna", "Amara", "Priya", "Siobhan"],
}
EXTRA_FAMILY = [
    "Khan",
    "Hussain",
    "Ahmed",
    "Begum",
    "Patel",
    "Kowalski",
    "Nowak",
    "Okafor",
    "Singh",
    "O'Neill",
    "Smith-Jones",
    "McDonald",
]
LA_CODES = ("380", "383", "384", "370", "371")


class ChildFactory:
    """Deterministic for a seed, so a benchmark or a test can rebuild the same children."""

    def __init__(self, seed: int = 1, today: date | None = None) -> None:
        self.random = random.Random(seed)
        self.faker = Faker("en_GB")
        self.faker.seed_instance(seed)
        self.today = today or date.today()
        self.organisations = {service: [org for org in ORGANISATIONS if service in org.services] for service in Service}

    def _given(self, gender: Gender) -> str:
        if self.random.random() < 0.12:
            return self.random.choice(EXTRA_GIVEN[gender])
        return self.faker.first_name_male() if gender is Gender.MALE else self.faker.first_name_female()

    def _family(self) -> str:
        if self.random.random() < 0.12:
            return self.random.choice(EXTRA_FAMILY)
        return self.faker.last_name()

    def nhs_number(self) -> str:
        while True:
            body = str(self.random.randint(400_000_000, 999_999_999))
            for check in "0123456789":
                if nhs.is_valid(body + check):
                    return body + check

    def upn(self) -> str:
        body = self.random.choice(LA_CODES) + f"{self.random.randint(2000, 9999)}{self.random.randint(0, 99999):05d}"
        return upn.calc_check_digit(body) + body

    def _street(self) -> str:
        """One line of a street address (Faker sometimes splits a flat onto a second line)."""
        return self.faker.street_address().replace("\n", ", ")

    def _phone(self) -> str:
        return "07700 9" + f"{self.random.randint(0, 99999):05d}"

    def _involvements(self, born: date, household_social_care: bool) -> tuple[InvolvementSpec, ...]:
        age = (self.today - born).days // 365
        picks: list[InvolvementSpec] = []

        def add(service: Service, role: str, **extra: object) -> None:
            organisation = self.random.choice(self.organisations[service])
            picks.append(
                InvolvementSpec(
                    service=service,
                    organisation=organisation.name,
                    role=role,
                    practitioner_name=self.faker.name(),
                    practitioner_phone=organisation.phone,
                    start_date=born + timedelta(days=self.random.randint(0, max((self.today - born).days, 1))),
                    **extra,  # type: ignore[arg-type]
                )
            )

        add(Service.GP_PRACTICE, "Registered GP")
        if age < 5:
            add(Service.HEALTH_VISITOR, "Health visitor")
        if age >= 4:
            add(Service.EDUCATION, "Designated safeguarding lead")
        if household_social_care:
            add(
                Service.SOCIAL_CARE,
                "Social worker",
                is_lead_professional=True,
                has_early_help_assessment=self.random.random() < 0.5,
            )
        if age >= 10 and self.random.random() < 0.03:
            add(Service.YOUTH_JUSTICE, "Youth justice officer")
        return tuple(picks)

    def household(self) -> list[ChildSpec]:
        """One household: one to four children, sometimes twins, at one address."""
        family = self._family()
        address = AddressSpec(self._street(), self.faker.city(), self.faker.postcode())
        previous = (AddressSpec(self._street(), self.faker.city(), self.faker.postcode()),)
        carer = (self.faker.name(), "Mother" if self.random.random() < 0.7 else "Father", self._phone())
        social_care = self.random.random() < 0.08
        size = self.random.choice((1, 1, 2, 2, 2, 3, 3, 4))
        specs: list[ChildSpec] = []
        while len(specs) < size:
            born = self.today - timedelta(days=self.random.randint(30, 17 * 365))
            twins = 2 if self.random.random() < 0.04 and len(specs) + 2 <= size + 1 else 1
            for _ in range(twins):
                gender = self.random.choice((Gender.MALE, Gender.FEMALE))
                other_names: tuple[tuple[NameKind, str | None, str | None], ...] = ()
                if self.random.random() < 0.05:
                    other_names = ((NameKind.FORMER, None, self._family()),)
                specs.append(
                    ChildSpec(
                        given_name=self._given(gender),
                        middle_names=self._given(gender) if self.random.random() < 0.6 else None,
                        family_name=family,
                        date_of_birth=born,
                        gender=gender,
                        other_names=other_names,
                        address=address,
                        previous_addresses=previous if self.random.random() < 0.3 else (),
                        carers=(carer,),
                        nhs_number=self.nhs_number(),
                        upn=self.upn() if (self.today - born).days >= 4 * 365 else None,
                        involvements=self._involvements(born, social_care),
                    )
                )
        return specs

    def children(self, count: int) -> Iterator[ChildSpec]:
        made = 0
        while made < count:
            for spec in self.household():
                if made == count:
                    return
                made += 1
                yield spec
