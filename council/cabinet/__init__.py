"""The signed-in cabinet: what needs a person's attention, read from the other features' tables
(appeals, sittings, votes) and the person's last visit. Reads only; writes the visit."""

from council.cabinet.queries import AppealLine, CabinetView, DraftLine, SittingLine, cabinet

__all__ = ["AppealLine", "CabinetView", "DraftLine", "SittingLine", "cabinet"]
