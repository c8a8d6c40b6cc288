"""Roll-call votes on Matrix: poll responses and the bot's own poll events in (events.py), what
the homeserver stored but never sent read back from the poll's relations (catchup.py, audit.py),
the chair's and the members' commands, and the clock that closes votes and refreshes the live
counts."""

from appservice.votes.clock import VoteClock
from appservice.votes.commands import VoteCommands
from appservice.votes.events import VoteEvents, after_commit

__all__ = ["VoteClock", "VoteCommands", "VoteEvents", "after_commit"]
