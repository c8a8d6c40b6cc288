"""Appeals on Matrix: a room per appeal, the bot's commands in appeal rooms, and the events that
go with an answer (its edits, its ✅, its files)."""

from appservice.appeals.commands import AppealCommands
from appservice.appeals.events import AnswerEvents
from appservice.appeals.rooms import AppealRooms

__all__ = ["AnswerEvents", "AppealCommands", "AppealRooms"]
