"""Debt steering (issue 16): the loan book of each commune, its schedules, indicators and risks.

The calculation engine lives in `engine/`, plain Python importing no Django, so that the
app's services, the CLI, the bench and the tests call the same code.
"""
