"""The order workflow phase by phase, with every activity replaced by a canned answer.

No database, no payment provider, no carrier: each test runs the real ``OrderWorkflow`` on
the time-skipping server against fakes registered under the activities' names, so a branch
that goes wrong shows up in seconds, with the calls it made.
"""
