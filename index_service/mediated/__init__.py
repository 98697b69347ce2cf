"""Mediated access: the index team searching and viewing on behalf of a named practitioner."""
