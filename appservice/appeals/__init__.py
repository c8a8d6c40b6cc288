"""Appeals on Matrix: a room per appeal and the bot's commands in appeal rooms."""

from appservice.appeals.commands import AnswerFiles, AppealCommands
from appservice.appeals.rooms import AppealRooms

__all__ = ["AnswerFiles", "AppealCommands", "AppealRooms"]
