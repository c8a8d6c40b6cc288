"""Appeals on Matrix: a room per appeal, the art. 20 reminders and the bot's commands in appeal rooms."""

from appservice.appeals.commands import AnswerFiles, AppealCommands
from appservice.appeals.rooms import AppealRooms, reminders

__all__ = ["AnswerFiles", "AppealCommands", "AppealRooms", "reminders"]
