"""Index ids: random, well formed, and using every character in every place."""

from index_service.index_ids import ALPHABET, BODY_LENGTH, new_index_id, parse_index_id


def test_new_index_ids_are_valid_distinct_and_use_the_whole_alphabet_in_every_place() -> None:
    ids = [new_index_id() for _ in range(3000)]
    assert len(set(ids)) == len(ids)
    assert all(parse_index_id(index_id) == index_id for index_id in ids)
    # A place missing a character after 3,000 draws happens by chance about once in 10^40.
    for place in range(BODY_LENGTH):
        assert {index_id[place] for index_id in ids} == set(ALPHABET)
