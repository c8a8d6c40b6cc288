"""Sittings on Matrix: a room per sitting, kept in step with the roster, and the file-drop handler."""

from appservice.sittings.rooms import SittingRooms

__all__ = ["SittingRooms"]
