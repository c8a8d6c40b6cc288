"""The directory's JSON bodies: the query (validated) and the answer (the OpenAPI document is
generated from both). Internal contacts and the Matrix id are filled for signed-in callers only."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CommissionRef", "DeputyList", "DeputyOut", "DirectoryQuery", "InternalOut", "PublicContacts"]


class DirectoryQuery(BaseModel):
    """`?q=&faction=&commission=&district=`: empty values count as not given."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    q: str = Field("", max_length=200, description="Words of the name or faction, any case")
    faction: str | None = Field(None, max_length=200, description="Exactly this faction")
    commission: str | None = Field(None, max_length=63, description="A commission id")
    district: int | None = Field(None, ge=1, le=999, description="An electoral district number")


class CommissionRef(BaseModel):
    id: str
    name: str


class PublicContacts(BaseModel):
    email: str | None
    phone: str | None
    reception: str | None = Field(description="Reception hours and place")


class InternalOut(BaseModel):
    email: str | None
    phone: str | None


class DeputyOut(BaseModel):
    id: str
    name: str
    faction: str | None
    district: int | None
    commissions: list[CommissionRef]
    contacts: PublicContacts
    photo_url: str | None = Field(description="The photo on this site, or none")
    page_url: str = Field(description="The deputy's page on this site")
    appeal_url: str = Field(description="The appeal form with this deputy chosen")
    internal: InternalOut | None = Field(
        None, description="Contacts for colleagues: signed-in deputies, the head and staff only")
    matrix_id: str | None = Field(None, description="Signed-in callers only")
    element_url: str | None = Field(None, description="matrix.to link; signed-in callers only")


class DeputyList(BaseModel):
    deputies: list[DeputyOut] = Field(description="In roster order")
    total: int = Field(description="Deputies in the roster, before the search")
