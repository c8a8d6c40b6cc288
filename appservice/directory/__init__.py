"""The directory on Matrix: `!хто`/`!who` and `!написати`/`!dm` (commands), the direct chats
the bot makes (direct), and the lounge's pinned directory (pinned)."""

from appservice.directory.commands import DirectoryCommands
from appservice.directory.direct import DirectChats
from appservice.directory.pinned import PinnedDirectory

__all__ = ["DirectChats", "DirectoryCommands", "PinnedDirectory"]
