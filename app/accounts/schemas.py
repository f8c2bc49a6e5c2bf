from __future__ import annotations

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)
    code: str | None = Field(default=None, max_length=100)  # with two-factor authentication on


class ResearcherPublic(BaseModel):
    id: int
    email: str
    name: str


class LoginResponse(BaseModel):
    researcher: ResearcherPublic
    csrf_token: str
