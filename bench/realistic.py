"""Realistic source extracts of one population of children: health, school and social care.

    from bench.realistic import rows, records, write_extracts

    for truth_id, source, row in rows(20_000, seed=1):   # source: "health", "school", "social_care"
        ...                                              # row: {column: text}, the extract format
    for record in records(20_000, seed=1):               # the same, with record.patterns too
        ...

    python bench/realistic.py --children 20000 --seed 2 --out bench/out/realistic-2
        # writes health.csv, school.csv, social_care.csv (load them with
        # flask --app wsgi sources load) and truth.csv (source, source_record_id, truth_id, patterns)

Seeds: train a model on TRAIN_SEED (1) and score it on SCORE_SEED (2), so that it is not judged
on the data it was tuned to.

API. `rows(children, seed)` yields (truth_id, source, row) for every row of the three extracts,
all of the health extract first, then school, then social care: the order in which
bench/matching.py loads them. `truth_id` is the child the row is (the same child in every
source); `row` is a dict of column name to text in the project's source extract format
(docs/source-extract-format.md), every row valid. `records(children, seed)` yields `Record`s,
which also carry `patterns`: the names of the differences this row has from the child as they
truly are (see PATTERNS), for breaking misses down by cause. Both stream: the population is made
again, from the seed, for each source, so memory does not grow with the size. The same seed
gives the same rows, byte for byte (plain `random.Random` and Faker seeded from it; nothing here
reads the project's matching lists, so changing them cannot change the data). `children` is the
size of the population; each source holds the part of it it would really hold.

Nothing here is real: names come from published frequency lists and Faker, NHS numbers are in
the 999 range (never issued), UPNs are valid in form only.

THE POPULATION

- Households (ONS, Families and households in the UK, families with dependent children: about
  44% have one child, 40% two, 16% three or more): sizes 1 to 4 at 44/40/12/4%. 15% of
  households of two or more are blended: a child has another family name than the rest.
- Twins: a birth is a twin birth with probability 0.016 (ONS, Births in England and Wales:
  about 14 to 16 multiple maternities per 1,000 in recent years), so about 3% of children are
  twins. Two thirds of twin pairs are same-sex (all identical twins and half of fraternal ones;
  about a third of UK twins are identical). 40% of same-sex twins get similar names (Georgia and Georgina, Jack
  and Jake, Amelia and Amelie; TWIN_NAMES), and opposite-sex twins 40% names with the same
  first letter: our reasoned estimate; "matching" names are a well-known habit of twins'
  parents, and they are the hardest case for the twin rule.
- Given names: half from the ONS baby-name top lists (TOP_GIRLS, TOP_BOYS, weighted by rank),
  the rest from Faker's en_GB lists and names of families of South Asian, Eastern European and
  African heritage; middle names for 60%. Family names from Faker's en_GB list, which carries
  ONS-like frequencies (Smith, Jones...), plus common names of South Asian heritage, so that
  namesakes (Muhammad Khan, same year) occur as they do.
- Dates of birth uniform over ages 0 to 17 at TODAY; gender 51% male.
- Double-barrelled family names: 4% of children (reasoned estimate). A family-name change
  (step-family, adoption, a parent's marriage): 3% of children have a former family name
  (reasoned estimate; ONS does not publish a rate for children).
- House moves: 10% of households moved in the last year (English Housing Survey: about one
  household in ten moves in a year, many more among private renters); they have a previous
  address.
- Who is in which source: health (GP registration, the Personal Demographics Service) 97% of
  children; school (the school census; not independent schools, about 6-7% of pupils, nor home
  education) 92% of children aged 4 to 15 and 60% of those aged 16 and 17 (most of the rest are
  at further-education colleges); social care (children in need, looked after, early help):
  7% of households, 90% of the children in them (DfE, Characteristics of children in need: about
  3.4% of children are in need on a given day, more over a year; our estimate for an extract
  over time). So many children are in only one source: under-fours with no social care are in
  health only, and the unregistered in school only.

THE THREE SOURCES (their formats, then their errors)

- health: NHS numbers for 99.5% (PDS completeness is near total), no UPNs; gender coded 1/2
  (0 unknown, NHS Data Dictionary); dates YYYY-MM-DD; family names and addresses often in upper
  case, as PDS holds them; a parent or carer only for 10% (PDS does not hold one).
- school: UPNs for every pupil (the census requires one), 25% of them with post-2011 local
  authority codes (838, 839, 940 to 943: reorganised authorities, which the checking library
  does not know), no NHS numbers; gender M/F; dates DD/MM/YYYY; a contact for 95%;
  "Rd" for "Road" in 30% of addresses.
- social care: NHS numbers for 60%, UPNs for 50% of school-age children; gender Male/Female/
  Unknown; dates YYYY-MM-DD; a carer for 90%, postcodes often missing.

Errors (per row; PATTERNS lists them). There are no published rates for each kind of error in
these extracts, so the rates are our reasoned estimates, set so that health (verified against
birth registration) is cleanest and social care (typed in by practitioners, often from what a
family says) least clean; the order of magnitude (a date of birth or a name different in about
1 record in 100 to 200 between two English administrative sources) is what linkage studies of
English health and education data report. Errors are correlated, as in real data: a row is of
poor quality with probability POOR[source] (3%, 5%, 15%), and a poor row has every error rate
RATES gives multiplied by POOR_FACTOR (4), so a wrong date of birth and a missing postcode meet
more often than chance would have it. RATES gives, per source (health, school, social care):

    given_typo       .005 .008 .015   a letter dropped, doubled or two swapped ("Aa" for "Ada")
    nickname         .03  .10  .15    of children whose name has one (NICKNAMES): Gerry for
                                      Geraldine, Alfie for Alfred, Libby for Elizabeth
    given_spelling   .08  .10  .15    of names with other spellings: Mohammed, Muhammad
    middle_as_given  .005 .01  .01    of children with a middle name: known by it
    family_former    .30  .40  .20    of children with a former family name: the source has it
    family_part      .10  .25  .30    of double-barrelled names: one part, or a space for the hyphen
    family_typo      .003 .005 .01
    names_swapped    .001 .002 .003   given and family name the wrong way round
    dob_error        .004 .008 .02    one digit wrong, a day out, or day and month swapped
                                      (40/30/30%; names left as they are)
    gender_unknown   .002 0    .03
    gender_wrong     .001 .001 .002
    address_stale    .40  .25  .15    of children whose household moved: the old address
    postcode_missing .01  .005 .06    the rest of the address kept
    address_missing  .002 .002 .03    no address at all
    postcode_typo    .002 .002 .004   one character of the inward code wrong
"""

from __future__ import annotations

import argparse
import csv
import random
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

from faker import Faker
from faker.providers.person.en_GB import Provider as PersonNames
from stdnum.gb import nhs, upn

TODAY = date(2026, 11, 1)
TRAIN_SEED = 1  # what a model is estimated on (bench/train_linkage.py)
SCORE_SEED = 2  # what bench/matching.py scores it on: never the seed it was trained on
SOURCES = ("health", "school", "social_care")
COLUMNS = (
    "source_record_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "gender",
    "middle_names",
    "nhs_number",
    "upn",
    "address_line1",
    "town",
    "postcode",
    "parent_carer_name",
    "parent_carer_phone",
)
PREFIX = {"health": "H", "school": "S", "social_care": "C"}

PATTERNS = (
    "given_typo",
    "nickname",
    "given_spelling",
    "middle_as_given",
    "family_former",
    "family_part",
    "family_typo",
    "names_swapped",
    "dob_digit",
    "dob_day",
    "dob_swap",
    "gender_unknown",
    "gender_wrong",
    "address_stale",
    "postcode_missing",
    "address_missing",
    "postcode_typo",
)

# health, school, social care
RATES: dict[str, tuple[float, float, float]] = {
    "given_typo": (0.005, 0.008, 0.015),
    "nickname": (0.03, 0.10, 0.15),
    "given_spelling": (0.08, 0.10, 0.15),
    "middle_as_given": (0.005, 0.01, 0.01),
    "family_former": (0.30, 0.40, 0.20),
    "family_part": (0.10, 0.25, 0.30),
    "family_typo": (0.003, 0.005, 0.01),
    "names_swapped": (0.001, 0.002, 0.003),
    "dob_error": (0.004, 0.008, 0.02),
    "gender_unknown": (0.002, 0.0, 0.03),
    "gender_wrong": (0.001, 0.001, 0.002),
    "address_stale": (0.40, 0.25, 0.15),
    "postcode_missing": (0.01, 0.005, 0.06),
    "address_missing": (0.002, 0.002, 0.03),
    "postcode_typo": (0.002, 0.002, 0.004),
}
POOR = {"health": 0.03, "school": 0.05, "social_care": 0.15}
POOR_FACTOR = 4.0
PRESENT = {  # chance a field is supplied at all: health, school, social care
    "nhs_number": (0.995, 0.0, 0.60),
    "upn": (0.0, 1.0, 0.50),
    "middle_names": (0.9, 0.7, 0.4),
    "carer": (0.10, 0.95, 0.90),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# ONS baby names, England and Wales, most popular of the last two decades, most popular first.
TOP_GIRLS = _words(
    "Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Sophie Ivy Freya "
    "Harper Willow Charlotte Jessica Rosie Daisy Alice Sienna Florence Phoebe Chloe Matilda Ruby "
    "Evelyn Elsie Millie Isabelle Sofia Lucy Esme Eva Hannah Scarlett Maya Layla Aria Emma Holly "
    "Georgia Megan Lola Ellie Erin Molly Amber Imogen Katie Lacey Zara Aisha Maryam Fatima Hallie "
    "Eliza Thea Violet Bella Ayla Luna Harriet Abigail Jasmine Lauren Amelie Beatrice Elizabeth "
    "Rebecca Victoria Eleanor Francesca Penelope Margaret Katherine Josephine Alexandra Geraldine"
)
TOP_BOYS = _words(
    "Oliver George Noah Arthur Harry Leo Muhammad Jack Charlie Oscar Jacob Henry Thomas Freddie "
    "Alfie Theo William Theodore Archie Joshua Alexander James Isaac Edward Lucas Tommy Finley "
    "Max Logan Ethan Mohammed Teddy Benjamin Arlo Joseph Sebastian Harrison Elijah Adam Daniel "
    "Samuel Louie Mason Reuben Albie Rory Jaxon Hugo Luca Zachary Reggie Hunter Louis Dylan Albert "
    "Ronnie Jude Frankie Frederick Caleb Toby Elliot Ryan Riley Jayden Kai Lewis Michael Matthew "
    "Nathan Luke Callum Kieran Liam Connor Jake Cameron Dominic Anthony Gerald Nicholas Christopher "
    "Alfred Stanley Leonard Tobias Nathaniel Maximilian Jonathan Richard Robert"
)
EXTRA_GIRLS = _words("Aisha Ayesha Fatima Maryam Zainab Oliwia Zuzanna Amara Priya Siobhan Hafsa Inaaya Amira Nikola")
EXTRA_BOYS = _words("Ibrahim Yusuf Oliwier Jakub Kacper Kofi Arjun Rhys Ayaan Hamza Zayn Dawid Chidi Tariq")
EXTRA_FAMILY = _words(
    "Khan Hussain Ahmed Begum Patel Ali Akhtar Iqbal Shah Rahman Singh Kaur Kowalski Nowak Okafor "
    "Adeyemi Mensah Nguyen O'Neill McDonald"
)

# Nicknames and short forms a family or a school uses. Some are in matching/data's lists, some
# deliberately not (Gerry, Libby, Tori, Sasha...): the lists will never hold every one.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Geraldine": ("Gerry", "Geri"),
    "Gerald": ("Gerry", "Ged"),
    "Elizabeth": ("Libby", "Beth", "Lizzie", "Eliza", "Betsy"),
    "Alexandra": ("Alex", "Sasha", "Lexi"),
    "Alexander": ("Alex", "Xander", "Sandy"),
    "Victoria": ("Tori", "Vicky"),
    "Rebecca": ("Becky", "Becca"),
    "Katherine": ("Kate", "Katie", "Kitty"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Josephine": ("Josie", "Jo"),
    "Francesca": ("Frankie", "Cesca"),
    "Penelope": ("Penny", "Poppy"),
    "Harriet": ("Hattie", "Hattie"),
    "Eleanor": ("Ellie", "Nell", "Nora"),
    "Isabella": ("Bella", "Izzy"),
    "Isabelle": ("Izzy", "Belle"),
    "Florence": ("Flo", "Florrie"),
    "Matilda": ("Tilly", "Tilda"),
    "Abigail": ("Abbie", "Abby"),
    "Amelia": ("Millie", "Milly"),
    "Charlotte": ("Lottie", "Charlie"),
    "Jessica": ("Jess", "Jessie"),
    "Evelyn": ("Evie", "Eve"),
    "Beatrice": ("Bea", "Trixie"),
    "Sophia": ("Sophie",),
    "Olivia": ("Liv", "Livvy"),
    "Scarlett": ("Scarlet",),
    "Theodore": ("Theo", "Teddy"),
    "Frederick": ("Freddie", "Fred"),
    "Alfred": ("Alfie", "Alf"),
    "Albert": ("Albie", "Bertie"),
    "Benjamin": ("Ben", "Benji"),
    "Sebastian": ("Seb", "Bash"),
    "Nathaniel": ("Nate", "Nat"),
    "Maximilian": ("Max", "Maxi"),
    "Zachary": ("Zach", "Zac"),
    "Dominic": ("Dom",),
    "Anthony": ("Tony", "Ant"),
    "Christopher": ("Chris", "Kit"),
    "Nicholas": ("Nick", "Nico"),
    "Jonathan": ("Jon", "Jonny"),
    "Joshua": ("Josh",),
    "Matthew": ("Matt", "Matty"),
    "Samuel": ("Sam", "Sammy"),
    "Joseph": ("Joe", "Joey"),
    "William": ("Will", "Billy"),
    "Thomas": ("Tom", "Tommy"),
    "Edward": ("Ed", "Ned", "Teddy"),
    "Henry": ("Harry", "Hal"),
    "James": ("Jamie", "Jim"),
    "Oliver": ("Ollie", "Olly"),
    "Daniel": ("Dan", "Danny"),
    "Michael": ("Mike", "Mikey"),
    "Richard": ("Rich", "Richie"),
    "Robert": ("Rob", "Bobby"),
    "Leonard": ("Lenny", "Leo"),
    "Stanley": ("Stan",),
    "Tobias": ("Toby",),
    "Reuben": ("Rube",),
    "Cameron": ("Cam",),
    "Callum": ("Cal",),
    "Muhammad": ("Mo",),
    "Mohammed": ("Mo",),
    "Ibrahim": ("Ibby",),
}
# Other spellings of one name (transliterations and common alternatives).
SPELLINGS: tuple[tuple[str, ...], ...] = (
    ("Muhammad", "Mohammed", "Mohammad", "Muhammed"),
    ("Aisha", "Ayesha", "Aysha"),
    ("Fatima", "Fatimah"),
    ("Maryam", "Mariam"),
    ("Zainab", "Zaynab"),
    ("Layla", "Leila", "Laila"),
    ("Isabelle", "Isabel", "Isobel"),
    ("Sofia", "Sophia"),
    ("Freya", "Freyja"),
    ("Zara", "Zarah"),
    ("Jaxon", "Jackson"),
    ("Jayden", "Jaden", "Jaiden"),
    ("Elliot", "Elliott"),
    ("Louie", "Louis"),
    ("Rhys", "Reece"),
    ("Hamza", "Hamzah"),
    ("Zayn", "Zain"),
    ("Esme", "Esmee"),
    ("Hallie", "Halle"),
)
SPELLING_OF = {name: tuple(other for other in group if other != name) for group in SPELLINGS for name in group}
# Similar names twins are given (same sex), as pairs.
TWIN_NAMES = {
    "F": (
        ("Georgia", "Georgina"),
        ("Amelia", "Amelie"),
        ("Lily", "Lila"),
        ("Ella", "Eva"),
        ("Mia", "Maya"),
        ("Ruby", "Rosie"),
        ("Hannah", "Anna"),
        ("Isla", "Isabel"),
        ("Olivia", "Sophia"),
        ("Millie", "Mollie"),
        ("Layla", "Lola"),
        ("Jessica", "Jennifer"),
    ),
    "M": (
        ("Jack", "Jake"),
        ("Harry", "Harvey"),
        ("Ethan", "Evan"),
        ("Mason", "Jason"),
        ("Alfie", "Archie"),
        ("Oscar", "Oliver"),
        ("Leo", "Luca"),
        ("Ryan", "Rhys"),
        ("Hassan", "Hussain"),
        ("Adam", "Aaron"),
        ("Louis", "Lewis"),
        ("Freddie", "Teddy"),
    ),
}
OLD_LA_CODES = ("380", "381", "382", "383", "384", "370", "371", "372", "373")
NEW_LA_CODES = ("838", "839", "940", "941", "942", "943")
ROAD_ABBREVIATIONS = {"Road": "Rd", "Street": "St", "Avenue": "Ave", "Lane": "Ln", "Drive": "Dr", "Close": "Cl"}


class Record(NamedTuple):
    truth_id: int
    source: str
    row: dict[str, str]
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Address:
    line1: str
    town: str
    postcode: str


@dataclass(frozen=True)
class Child:
    """A child as they truly are, and which sources hold them."""

    truth_id: int
    household: int
    given_name: str
    middle_names: str | None
    family_name: str
    former_family_name: str | None
    date_of_birth: date
    sex: str  # "M" or "F"
    nhs_number: str
    upn: str | None
    address: Address
    previous_address: Address | None  # the household moved in the last year
    carers: tuple[tuple[str, str], ...]  # (name, phone), mother or main carer first
    twin_of: int | None
    in_sources: frozenset[str]


def _weighted(names: tuple[str, ...] | list[str], exponent: float) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(len(names))]


class _Population:
    """Makes households of children from a seed, in the same order every time."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.faker = Faker("en_GB")
        self.faker.seed_instance(seed)
        self.next_id = 0
        self.nhs_numbers: set[str] = set()
        self.upns: set[str] = set()
        self.girl_weights = _weighted(TOP_GIRLS, 0.8)
        self.boy_weights = _weighted(TOP_BOYS, 0.8)
        self.family_names = list(PersonNames.last_names)
        self.family_weights = list(PersonNames.last_names.values())
        self.schools = [
            (self.rng.choice(NEW_LA_CODES if self.rng.random() < 0.25 else OLD_LA_CODES), self.rng.randint(2000, 7999))
            for _ in range(400)
        ]

    def given(self, sex: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            top, weights = (TOP_GIRLS, self.girl_weights) if sex == "F" else (TOP_BOYS, self.boy_weights)
            return rng.choices(top, weights)[0]
        if roll < 0.62:
            return rng.choice(EXTRA_GIRLS if sex == "F" else EXTRA_BOYS)
        names = PersonNames.first_names_female if sex == "F" else PersonNames.first_names_male
        return rng.choice(names)

    def family(self) -> str:
        if self.rng.random() < 0.1:
            return self.rng.choice(EXTRA_FAMILY)
        return self.rng.choices(self.family_names, self.family_weights)[0]

    def nhs_number(self) -> str:
        while True:
            number = f"999{self.rng.randrange(1_000_000):06d}"
            check = (11 - sum(int(digit) * (10 - i) for i, digit in enumerate(number)) % 11) % 11
            number += str(check)
            if check != 10 and nhs.is_valid(number) and number not in self.nhs_numbers:
                self.nhs_numbers.add(number)
                return number

    def upn(self, born: date) -> str:
        la, school = self.rng.choice(self.schools)
        entry = (born.year + 4) % 100
        while True:
            body = f"{la}{school}{entry:02d}{self.rng.randrange(1000):03d}"
            number = upn.calc_check_digit(body) + body
            if number not in self.upns:
                self.upns.add(number)
                return number

    def address(self) -> Address:
        faker = self.faker
        return Address(faker.street_address().replace("\n", ", "), faker.city(), faker.postcode())

    def carer(self, family: str) -> tuple[str, str]:
        first = self.faker.first_name_female() if self.rng.random() < 0.7 else self.faker.first_name_male()
        return f"{first} {family}", "07700 9" + f"{self.rng.randint(0, 99999):05d}"

    def household(self) -> list[Child]:  # noqa: C901 - one household, step by step
        rng = self.rng
        number = self.next_id
        family = self.family()
        if rng.random() < 0.04:
            family = f"{family}-{self.family()}"
        address = self.address()
        moved = rng.random() < 0.10
        previous = self.address() if moved else None
        carers = [self.carer(family if rng.random() < 0.7 else self.family())]
        if rng.random() < 0.7:
            carers.append(self.carer(family))
        social_care = rng.random() < 0.07
        size = rng.choices((1, 2, 3, 4), (44, 40, 12, 4))[0]
        blended = size > 1 and rng.random() < 0.15
        births: list[tuple[date, int]] = []
        while sum(count for _, count in births) < size:
            born = TODAY - timedelta(days=rng.randint(1, 17 * 365))
            births.append((born, 2 if rng.random() < 0.016 else 1))
        children: list[Child] = []
        for born, count in births:
            age = (TODAY - born).days / 365.25
            sexes = [rng.choice("MF") for _ in range(count)]
            if count == 2 and rng.random() < 1 / 3:  # identical twins; fraternal ones are half same-sex
                sexes[1] = sexes[0]
            names = [self.given(sex) for sex in sexes]
            if count == 2 and rng.random() < 0.4:
                if sexes[0] == sexes[1]:
                    names = list(rng.choice(TWIN_NAMES[sexes[0]]))
                    rng.shuffle(names)
                else:
                    for _ in range(30):
                        names[1] = self.given(sexes[1])
                        if names[1][0] == names[0][0]:
                            break
            if count == 2 and names[0] == names[1]:
                names[1] = self.given(sexes[1]) if names[1] != "Mia" else "Maya"
            first_id = self.next_id
            for position in range(count):
                sex = sexes[position]
                own_family = self.family() if blended and children and rng.random() < 0.5 else family
                former = self.family() if rng.random() < 0.03 else None
                in_sources = set()
                if rng.random() < 0.97:
                    in_sources.add("health")
                if 4 <= age < 16 and rng.random() < 0.92 or age >= 16 and rng.random() < 0.60:
                    in_sources.add("school")
                if social_care and rng.random() < 0.9:
                    in_sources.add("social_care")
                children.append(
                    Child(
                        truth_id=self.next_id,
                        household=number,
                        given_name=names[position],
                        middle_names=self.given(sex) if rng.random() < 0.6 else None,
                        family_name=own_family,
                        former_family_name=former,
                        date_of_birth=born,
                        sex=sex,
                        nhs_number=self.nhs_number(),
                        upn=self.upn(born) if age >= 4 else None,
                        address=address,
                        previous_address=previous,
                        carers=tuple(carers),
                        twin_of=(first_id + 1 - position) if count == 2 else None,
                        in_sources=frozenset(in_sources),
                    )
                )
                self.next_id += 1
        return children


def population(children: int, seed: int) -> Iterator[Child]:
    """The children of the population, household by household (the last household may be cut)."""
    made = _Population(seed)
    while made.next_id < children:
        for child in made.household():
            if child.truth_id < children:
                yield child


# Errors -----------------------------------------------------------------------------------------


def _slip(rng: random.Random, text: str) -> str:
    """A letter dropped, doubled, or two neighbours swapped (never the first letter)."""
    if len(text) < 3:
        return text + text[-1]
    i = rng.randrange(1, len(text))
    roll = rng.random()
    if roll < 0.45:
        return text[:i] + text[i + 1 :]
    if roll < 0.85:
        return text[:i] + text[i] + text[i:]
    i = max(i, 2) if len(text) > 2 else i
    swapped = text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    return swapped if swapped != text else text[:i] + text[i + 1 :]


def _digit_wrong(rng: random.Random, born: date) -> date | None:
    for _ in range(30):
        digits = list(born.strftime("%Y%m%d"))
        position = rng.choice((3, 5, 6, 7, 7))
        digits[position] = rng.choice([d for d in string.digits if d != digits[position]])
        text = "".join(digits)
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            continue
    return None


def _plausible(born: date | None) -> bool:
    """Still the date of birth of a child (a load makes no new child of an adult)."""
    return born is not None and born <= TODAY and (TODAY - born).days < 17 * 365 + 200


class _Source:
    """Makes one source's row of a child, with that source's format and errors."""

    def __init__(self, source: str, seed: int) -> None:
        self.source = source
        self.column = SOURCES.index(source)
        self.rng = random.Random(f"{seed}:{source}")
        self.serial = 0
        self.factor = 1.0

    def chance(self, pattern: str) -> bool:
        return self.rng.random() < RATES[pattern][self.column] * self.factor

    def present(self, field: str) -> bool:
        return self.rng.random() < PRESENT[field][self.column]

    def row(self, child: Child) -> tuple[dict[str, str], tuple[str, ...]]:  # noqa: C901 - one rule after another
        rng, source = self.rng, self.source
        self.factor = POOR_FACTOR if rng.random() < POOR[source] else 1.0
        patterns: list[str] = []
        self.serial += 1

        given, middle, family = child.given_name, child.middle_names, child.family_name
        if middle and self.chance("middle_as_given"):
            given, middle = middle, None
            patterns.append("middle_as_given")
        elif given in NICKNAMES and self.chance("nickname"):
            given = rng.choice(NICKNAMES[given])
            patterns.append("nickname")
        elif given in SPELLING_OF and self.chance("given_spelling"):
            given = rng.choice(SPELLING_OF[given])
            patterns.append("given_spelling")
        if self.chance("given_typo"):
            given = _slip(rng, given)
            patterns.append("given_typo")
        if middle and not self.present("middle_names"):
            middle = None

        if child.former_family_name and self.chance("family_former"):
            family = child.former_family_name
            patterns.append("family_former")
        elif "-" in family and self.chance("family_part"):
            parts = family.split("-")
            family = rng.choice((parts[0], parts[-1], " ".join(parts)))
            patterns.append("family_part")
        if self.chance("family_typo"):
            family = _slip(rng, family)
            patterns.append("family_typo")
        if self.chance("names_swapped"):
            given, family = family, given
            patterns.append("names_swapped")

        born = child.date_of_birth
        if self.chance("dob_error"):
            kind = rng.choices(("dob_digit", "dob_day", "dob_swap"), (40, 30, 30))[0]
            if kind == "dob_swap" and (born.day > 12 or born.day == born.month):
                kind = "dob_digit"
            if kind == "dob_swap":
                wrong: date | None = born.replace(day=born.month, month=born.day)
            elif kind == "dob_day":
                wrong = born + timedelta(days=rng.choice((-1, 1)))
            else:
                wrong = _digit_wrong(rng, born)
            if _plausible(wrong) and wrong != born:
                born = wrong  # type: ignore[assignment]
                patterns.append(kind)

        sex = child.sex
        if self.chance("gender_wrong"):
            sex = "F" if sex == "M" else "M"
            patterns.append("gender_wrong")
        elif self.chance("gender_unknown"):
            sex = "U"
            patterns.append("gender_unknown")

        address: Address | None = child.address
        if child.previous_address is not None and self.chance("address_stale"):
            address = child.previous_address
            patterns.append("address_stale")
        postcode = address.postcode if address else ""
        if self.chance("address_missing"):
            address, postcode = None, ""
            patterns.append("address_missing")
        elif self.chance("postcode_missing"):
            postcode = ""
            patterns.append("postcode_missing")
        elif self.chance("postcode_typo"):
            wrong_postcode = postcode[:-2] + rng.choice([c for c in "ABDEFGHJLNPQRSTUWXYZ" if c != postcode[-2]])
            postcode = wrong_postcode + postcode[-1]
            patterns.append("postcode_typo")

        carer = ("", "")
        if self.present("carer"):
            carers = child.carers
            carer = carers[0] if len(carers) == 1 or rng.random() < 0.7 else carers[1]

        nhs_number = child.nhs_number if self.present("nhs_number") else ""
        pupil = child.upn if child.upn and self.present("upn") else ""
        return self._format(given, middle, family, born, sex, nhs_number, pupil, address, postcode, carer), tuple(
            patterns
        )

    def _format(  # noqa: PLR0913 - one row's fields
        self,
        given: str,
        middle: str | None,
        family: str,
        born: date,
        sex: str,
        nhs_number: str,
        pupil: str,
        address: Address | None,
        postcode: str,
        carer: tuple[str, str],
    ) -> dict[str, str]:
        rng, source = self.rng, self.source
        line1, town = (address.line1, address.town) if address else ("", "")
        if source == "health":
            gender = {"M": "1", "F": "2", "U": "0"}[sex]
            dob = born.isoformat()
            if rng.random() < 0.3:
                family, line1, town = family.upper(), line1.upper(), town.upper()
        elif source == "school":
            gender = {"M": "M", "F": "F", "U": ""}[sex]
            dob = born.strftime("%d/%m/%Y")
            if rng.random() < 0.3:
                for word, short in ROAD_ABBREVIATIONS.items():
                    line1 = line1.replace(f" {word}", f" {short}")
            if postcode and rng.random() < 0.2:
                postcode = postcode.replace(" ", "").lower()
            nhs_number = ""
        else:
            gender = {"M": "Male", "F": "Female", "U": "Unknown"}[sex]
            dob = born.isoformat()
            if nhs_number:
                nhs_number = f"{nhs_number[:3]} {nhs_number[3:6]} {nhs_number[6:]}"
        return {
            "source_record_id": f"{PREFIX[source]}{self.serial:07d}",
            "given_name": given,
            "family_name": family,
            "date_of_birth": dob,
            "gender": gender,
            "middle_names": middle or "",
            "nhs_number": nhs_number,
            "upn": pupil,
            "address_line1": line1,
            "town": town,
            "postcode": postcode,
            "parent_carer_name": carer[0],
            "parent_carer_phone": carer[1],
        }


def records(children: int, seed: int, sources: tuple[str, ...] = SOURCES) -> Iterator[Record]:
    """Every row of each source's extract in turn, with the truth and the row's patterns."""
    for source in sources:
        maker = _Source(source, seed)
        for child in population(children, seed):
            if source in child.in_sources:
                row, patterns = maker.row(child)
                yield Record(child.truth_id, source, row, patterns)


def rows(children: int, seed: int) -> Iterator[tuple[int, str, dict[str, str]]]:
    """(truth_id, source, row) for every row, health first, then school, then social care."""
    for record in records(children, seed):
        yield record.truth_id, record.source, record.row


def twins(children: int, seed: int) -> dict[int, int]:
    """Each twin's truth id to their twin's."""
    return {child.truth_id: child.twin_of for child in population(children, seed) if child.twin_of is not None}


def write_extracts(children: int, seed: int, directory: Path) -> dict[str, Path]:
    """One CSV per source in `directory`, and truth.csv (source, source_record_id, truth_id, patterns)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {source: directory / f"{source}.csv" for source in SOURCES}
    files = {source: path.open("w", newline="", encoding="utf-8") for source, path in paths.items()}
    truth_path = directory / "truth.csv"
    try:
        writers = {source: csv.DictWriter(handle, COLUMNS) for source, handle in files.items()}
        for writer in writers.values():
            writer.writeheader()
        with truth_path.open("w", newline="", encoding="utf-8") as handle:
            truth = csv.writer(handle)
            truth.writerow(("source", "source_record_id", "truth_id", "patterns"))
            for record in records(children, seed):
                writers[record.source].writerow(record.row)
                truth.writerow(
                    (record.source, record.row["source_record_id"], record.truth_id, " ".join(record.patterns))
                )
    finally:
        for handle in files.values():
            handle.close()
    return {**paths, "truth": truth_path}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", type=Path, help="directory (default bench/out/realistic-<seed>)")
    args = parser.parse_args()
    out = args.out or Path(__file__).resolve().parent / "out" / f"realistic-{args.seed}"
    for name, path in write_extracts(args.children, args.seed, out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    sys.exit(main())
