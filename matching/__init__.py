"""Identity resolution over plain data: normalisation, blocking keys, comparison, ranking.

No Flask and no database here: the web search and the bulk loads hand in plain records and
get plain answers back, so the same rules apply everywhere and can be tested alone.
"""
